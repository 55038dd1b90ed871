"""Bad input at every door: refused with clear per-field errors, nothing starts, nothing crashes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowUpdateFailedError
from typer.testing import CliRunner

from partnerships.adapters.charter_file import CharterError, parse_charter
from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store
from partnerships.cli.app import app
from partnerships.domain.lifecycle import SignRequest, Step, TimeScale
from partnerships.service import commands as service
from tests.helpers import (
    EXAMPLE_CHARTER,
    KEYRING,
    PARTNER,
    US,
    act,
    example_charter,
    running_worker,
    settle,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow

EXAMPLE = yaml.safe_load(EXAMPLE_CHARTER.read_text())
TOP_LEVEL = set(EXAMPLE) | {"gates", "signing"}
# A problem line names a field path, a YAML position, or the charter as a whole.
# A field path names keys as given, digits included (a stray `_0` key is named `partner._0`).
PROBLEM = re.compile(r"^(\(charter\)|line \d+, column \d+|[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*|\[\d+\])*): \S.*$")

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
    | st.sampled_from(["", " ", "🤝" * 500, "x" * 5000, "\u202e\u0000", "co-marketing", "2026-01-01"]),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


PATHS = _paths(EXAMPLE)


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _replace(copy[path[0]], path[1:], value)
    return copy


def _assert_clear_refusal(problems: list[str]) -> None:
    assert problems
    for problem in problems:
        assert PROBLEM.match(problem), problem
        assert "\n" not in problem and "Traceback" not in problem


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), value=junk, drop=st.booleans())
def test_a_charter_with_any_field_broken_is_refused_field_by_field_or_accepted_whole(
    path: tuple[Any, ...], value: Any, drop: bool
) -> None:
    data = _replace(EXAMPLE, path, value)
    if drop and isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != path[0]}
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        parse_charter(text)
    except CharterError as refused:
        _assert_clear_refusal(refused.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_at_all_is_either_a_charter_or_a_clear_refusal(text: str) -> None:
    try:
        parse_charter(text)
    except CharterError as refused:
        _assert_clear_refusal(refused.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("?\n", "(charter): key 'None' is not a field name"),
        ("partner: {1: x}\n", "partner: key '1' is not a field name"),
    ],
    ids=["null-key", "number-key"],
)
def test_a_key_that_is_not_text_is_named_under_its_parent(text: str, expected: str) -> None:
    with pytest.raises(CharterError) as refused:
        parse_charter(text)
    assert expected in refused.value.problems
    _assert_clear_refusal(refused.value.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [1,2]\nb: &b [*a,*a]\nc: [*b,*b,*b]\n", "aliases (*name) are not allowed"),
        ("slug: !!python/object/apply:os.system ['echo pwned']\n", "could not determine a constructor"),
        ("slug: !include secrets.yaml\n", "could not determine a constructor"),
        ("[" * 10_000 + "]" * 10_000, "nested deeper than 20 levels"),
        ("slug: acme\nslug: globex\n", "'slug' appears twice"),
        ("tier: " + "9" * 5000, "not a usable file"),
        ("x" * 300_000, "is larger than 256 KiB"),
        ("- a\n- list\n", "must be a mapping"),
        ("", "must be a mapping"),
    ],
    ids=[
        "alias-bomb",
        "python-tag",
        "custom-tag",
        "deep-nesting",
        "duplicate-key",
        "huge-int",
        "huge-file",
        "list",
        "empty",
    ],
)
def test_yaml_tricks_are_refused_in_one_clear_line(text: str, expected: str) -> None:
    with pytest.raises(CharterError) as refused:
        parse_charter(text)
    assert len(refused.value.problems) == 1 and expected in refused.value.problems[0]
    _assert_clear_refusal(refused.value.problems)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=junk)
def test_the_cli_never_prints_a_traceback_for_a_bad_charter(tmp_path: Path, path: tuple[Any, ...], value: Any) -> None:
    charter_file = tmp_path / "charter.yaml"
    try:
        charter_file.write_text(yaml.safe_dump(_replace(EXAMPLE, path, value), allow_unicode=True))
    except yaml.YAMLError:
        return
    result = CliRunner().invoke(app, ["charter", "check", str(charter_file)])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        _assert_clear_refusal([line.removeprefix("error: ") for line in result.output.splitlines()])


async def test_a_start_with_a_bad_charter_starts_nothing(client: Client, settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    data = dict(EXAMPLE, slug="never-started-charter", tier=9)
    bad.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(
        app, ["start", str(bad)], env={"TEMPORAL_ADDRESS": client.service_client.config.target_host}
    )
    assert result.exit_code == 1 and result.output.strip() == "error: tier: Input should be 1, 2 or 3"
    matches = [w async for w in client.list_workflows("WorkflowId = 'partnership-never-started-charter'")]
    assert matches == []


@pytest.mark.parametrize(
    ("update", "payload", "expected"),
    [
        (
            "record_walk_results",
            {"recorded_by": US, "invited": -3},
            "invited: Input should be greater than or equal to 0",
        ),
        ("record_walk_results", {"recorded_by": US, "invited": "eight"}, "invited: Input should be a valid integer"),
        (
            "record_pilot_results",
            {
                "recorded_by": US,
                "pilot": {"customer": "A", "metric_before": 1, "metric_after": "NaN", "would_recommend": True},
            },
            "pilot.metric_after: Input should be a valid number",
        ),
        ("decide", {"reviewer": US, "outcome": "maybe"}, "Input should be"),
        ("sign_charter", {"signer": US, "sneaky": True}, "Extra inputs are not permitted"),
        ("exit", {"by": US, "reason": "x" * 5000}, "at most 4000 characters"),
    ],
    ids=["negative-count", "wrong-type", "nan", "unknown-outcome", "extra-field", "huge-reason"],
)
async def test_a_malformed_update_payload_from_any_client_is_rejected_and_leaves_no_trace(
    client: Client, settings: Settings, store: Store, update: str, payload: dict[str, Any], expected: str
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        for signer in (US, PARTNER):
            await act(client, charter.slug, PartnershipWorkflow.sign_charter, SignRequest(signer=signer))
        await wait_for(client, charter.slug, lambda s: s.partnership.step is Step.UNDERWAY)
        before = await settle(client, charter.workflow_id)
        state = (await service.status(client, charter.slug)).partnership
        handle = client.get_workflow_handle(charter.workflow_id)
        # Sent by name with a raw dict: no client-side model stands between the caller and the workflow.
        # With a genuine proof beside it, so that the payload itself is what gets refused.
        proof = KEYRING.signer_for(US).prove(charter.workflow_id, update, SignRequest(signer=US))
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(update, args=[payload, proof])
        assert any(expected in problem for problem in service.rejection_problems(rejected.value)), (
            service.rejection_problems(rejected.value)
        )
        assert await settle(client, charter.workflow_id) == before
        assert (await service.status(client, charter.slug)).partnership == state
