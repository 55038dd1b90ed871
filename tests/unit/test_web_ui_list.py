"""The Workflows list set-up that `make server`/`make demo` print and the README walks through:
the same view link and the same columns in both, and only columns the server registers.

The browser test (tests/e2e/test_web_ui.py) clicks these same columns in the real UI.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from partnerships.adapters.config import EMBEDDED_UI_URL, REPO_ROOT
from partnerships.adapters.web_ui import (
    COLUMNS_TO_ADD,
    COLUMNS_TO_REMOVE,
    PORTFOLIO_QUERY,
    PORTFOLIO_VIEW,
    saved_view_url,
    setup_lines,
    workflows_url,
)
from partnerships.engine.search_attributes import ALL_KEYS


def _web_ui_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Seeing it in the Temporal Web UI")
    return readme[start : readme.index("\n## ", start + 1)]


def test_the_view_link_carries_the_portfolio_query_and_the_views_name() -> None:
    url = urlsplit(saved_view_url("http://ui.example", "ops"))
    assert url.path == "/namespaces/ops/workflows"
    assert parse_qs(url.query) == {"query": [PORTFOLIO_QUERY], "savedQuery": [PORTFOLIO_VIEW]}
    assert parse_qs(urlsplit(workflows_url("http://ui.example", "ops")).query) == {"query": [PORTFOLIO_QUERY]}


def test_the_columns_to_add_are_registered_search_attributes() -> None:
    registered = {key.name for key in ALL_KEYS}
    assert set(COLUMNS_TO_ADD) <= registered
    assert {"PartnershipPhase", "PartnershipStep", "Partner", "PartnershipTier", "RagStatus"} <= set(COLUMNS_TO_ADD)


def test_the_readme_walks_through_the_same_link_and_columns_the_servers_print() -> None:
    section = _web_ui_section()
    assert saved_view_url(EMBEDDED_UI_URL, "default") in section
    assert PORTFOLIO_QUERY in section
    for label in (*COLUMNS_TO_REMOVE, *COLUMNS_TO_ADD):
        assert f"**{label}**" in section, label
    # In the order the steps add them, so the README's example table matches the list.
    positions = [section.index(f"**{label}**", section.index("Custom Search Attributes")) for label in COLUMNS_TO_ADD]
    assert positions == sorted(positions)
    printed = "\n".join(setup_lines(EMBEDDED_UI_URL, "default"))
    assert saved_view_url(EMBEDDED_UI_URL, "default") in printed
    assert all(label in printed for label in (*COLUMNS_TO_REMOVE, *COLUMNS_TO_ADD))
