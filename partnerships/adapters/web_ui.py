"""The Temporal Web UI's Workflows list, set up to read the portfolio at a glance.

What the UI lets a deployment set up, and what it leaves to each person (checked on
the UI 2.42.1 that the Temporal CLI 1.5.1 dev server bundles):

- The list's columns are kept in each person's browser, per namespace (the UI's
  localStorage key `namespace-workflow-table-columns`). No UI server setting, dev server
  flag or URL sets them, so each person adds the columns below once, by clicking
  (README: Seeing it in the Temporal Web UI). A custom search attribute becomes a column
  showing each row's current value.
- A saved view is a named query, kept in the browser too (`saved-workflow-queries`). The
  UI adds one when it opens a link carrying `savedQuery=<name>` next to the query (its own
  "Share" link), so `make server` and `make demo` can hand out the portfolio view.
- A workflow's summary and details show on its own page only, not in the list; they are
  fixed when the workflow starts anyway, so they could never carry the phase.
"""

from __future__ import annotations

from urllib.parse import urlencode

from partnerships.domain.vocabulary import WORKFLOW_TYPE
from partnerships.engine.search_attributes import (
    NEXT_DEADLINE,
    PARTNER,
    PHASE,
    RAG_STATUS,
    STEP,
    TIER,
    TIME_SCALE,
)

# The partnerships at work, one row each: a run that continued as new is no longer Running,
# so its stale phase never shows beside the current one.
PORTFOLIO_QUERY = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"
PORTFOLIO_VIEW = "Partnerships"

# The UI's default columns that say nothing about a partnership (its own labels).
COLUMNS_TO_REMOVE = ("Run ID", "Type", "Start", "End")
# Added in this order after Status and Workflow ID: where each partnership is, whose it is,
# how it does, what is due next, and whether it is a rehearsal.
COLUMNS_TO_ADD = tuple(key.name for key in (PHASE, STEP, PARTNER, TIER, RAG_STATUS, NEXT_DEADLINE, TIME_SCALE))


def workflows_url(ui_url: str, namespace: str, query: str = PORTFOLIO_QUERY) -> str:
    """The Workflows list filtered by a visibility query."""
    return f"{ui_url}/namespaces/{namespace}/workflows?{urlencode({'query': query})}"


def saved_view_url(ui_url: str, namespace: str, name: str = PORTFOLIO_VIEW, query: str = PORTFOLIO_QUERY) -> str:
    """Opening it adds the query to the browser's Saved Views under `name` (once per browser: each visit adds one)."""
    return f"{ui_url}/namespaces/{namespace}/workflows?{urlencode({'query': query, 'savedQuery': name})}"


def setup_lines(ui_url: str, namespace: str) -> list[str]:
    """What `make server` and `make demo` print: the portfolio view, and the columns to add by hand."""
    return [
        f"Portfolio in the Web UI: {workflows_url(ui_url, namespace)}",
        f"  save it as the '{PORTFOLIO_VIEW}' view (once per browser): {saved_view_url(ui_url, namespace)}",
        "  columns, once per browser: Configure Columns (the gear below the list) - remove "
        + ", ".join(COLUMNS_TO_REMOVE)
        + "; add "
        + ", ".join(COLUMNS_TO_ADD)
        + " (README: Seeing it in the Temporal Web UI)",
    ]
