"""The `partnerships` command line: what a partnership manager types, and what they see."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from typer.testing import CliRunner

from partnerships.adapters.charter_file import load_charter
from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.store import Store
from partnerships.cli.app import app
from tests.fake_slack import BOT_TOKEN, CHANNEL_ID, FakeSlack
from tests.helpers import EXAMPLE_CHARTER, KEYRING, example_charter, running_worker, wait_for

runner = CliRunner()
GLOBEX = REPO_ROOT / "charters" / "globex-reseller.yaml"
PARTNERSHIPS = str(Path(sys.executable).parent / "partnerships")


def test_charter_check_accepts_a_valid_charter_and_prints_the_frameworks_warnings() -> None:
    result = runner.invoke(app, ["charter", "check", str(GLOBEX)])
    assert result.exit_code == 0, result.output
    assert "a valid charter for Globex Resellers" in result.output
    assert "warning: leverage: moderate leverage" in result.output
    assert f"content hash {load_charter(GLOBEX).content_hash()} (what both sides sign)" in result.output


def test_charter_check_lists_every_problem_one_line_per_field_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = EXAMPLE_CHARTER.read_text().replace("weeks: 6", "weeks: 9").replace("tier: 2", "tier: seven")
    bad.write_text(text.replace("invited_customers: 8", "invited_customers: 30"))
    result = runner.invoke(app, ["charter", "check", str(bad)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        "error: tier: Input should be 1, 2 or 3",
        "error: timeline.crawl.weeks: must be between 4 and 8",
        "error: timeline.walk.invited_customers: must be between 5 and 10",
    ]


def test_a_missing_or_unreadable_charter_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["charter", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file"
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00junk")
    result = runner.invoke(app, ["charter", "check", str(tmp_path / "binary.yaml")])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_charter_render_produces_markdown_with_goals_gates_and_signature_block(tmp_path: Path) -> None:
    output = tmp_path / "acme.md"
    result = runner.invoke(app, ["charter", "render", str(EXAMPLE_CHARTER), "-o", str(output)])
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert text.startswith("# Partnership charter: Acme Analytics")
    assert "| Crawl | 6 weeks |" in text and "every pilot ≥ 20 % better" in text
    assert "≥ 70 % of invited customers adopt" in text
    assert "| Acme Analytics | Sam Okafor | | |" in text


def test_a_bad_time_scale_is_refused_before_anything_starts() -> None:
    result = runner.invoke(app, ["start", str(EXAMPLE_CHARTER), "--time-scale", "fast please"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: --time-scale: 'fast please' is not a time scale; use e.g. 1w=1s or 1w=2min"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            ["--review-window", "2m"],
            "error: --review-window: only a rehearsal (--time-scale) sets its own review window",
        ),
        (
            ["--time-scale", "1w=1s", "--review-window", "soon"],
            "error: --review-window: 'soon' is not a duration; use e.g. 2m, 90s or 1h",
        ),
        (
            ["--time-scale", "1w=1s", "--review-window", "1s"],
            "error: --review-window: '1s' must last between 5 s and 30 days",
        ),
    ],
    ids=["without-a-rehearsal", "not-a-duration", "too-short"],
)
def test_a_bad_review_window_is_refused_before_anything_starts(options: list[str], expected: str) -> None:
    result = runner.invoke(app, ["start", str(EXAMPLE_CHARTER), *options])
    assert result.exit_code == 1
    assert result.output.strip() == expected


def test_an_unreachable_server_is_one_line_naming_the_address() -> None:
    result = runner.invoke(app, ["status", "acme"], env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot reach Temporal at 127.0.0.1:1")
    assert "Traceback" not in result.output


async def _cli(
    settings: Settings, client: Client, *args: str, key: Path | None = None, columns: int = 200
) -> tuple[int, str]:
    """Run the real `partnerships` executable, as a person would, signing with `key`."""
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "DATABASE_URL": settings.store_url,
        "PARTNERSHIPS_TASK_QUEUE": settings.task_queue,
        "COLUMNS": str(columns),
    }
    if key is not None:
        env["PARTNERSHIPS_KEY_FILE"] = str(key)
    process = await asyncio.create_subprocess_exec(
        PARTNERSHIPS, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_a_manager_drives_a_partnership_from_the_command_line(
    client: Client, settings: Settings, store: Store, tmp_path: Path
) -> None:
    charter = example_charter()
    charter_file = tmp_path / "charter.yaml"
    charter_file.write_text(json.dumps(charter.model_dump(mode="json")))  # JSON is YAML
    slug = charter.slug

    def key_of(identity: str) -> Path:
        """The person's own key file, as `partnerships login` leaves it on their machine."""
        path = tmp_path / "keys" / identity
        if not path.exists():
            KEYRING.key_for(identity).save(path)
        return path

    async def cli(*args: str, key: Path | None = None) -> tuple[int, str]:
        # Each person signs with their own key unless the test hands them someone else's.
        who = args[args.index("--as") + 1] if "--as" in args else None
        return await _cli(settings, client, *args, key=key or (key_of(who) if who else None))

    async with running_worker(client, settings, store):
        # Phases in seconds, but people's windows (signing, review) in minutes: a busy machine's slow
        # commands never race an expiry.
        code, output = await cli("start", str(charter_file), "--time-scale", "1w=2s", "--review-window", "10m")
        assert code == 0, output
        assert f"started {charter.workflow_id}" in output
        # The same file starts a second partnership under a slug of its own.
        second = f"{slug}-second"
        code, output = await cli("start", str(charter_file), "--slug", second)
        assert code == 0 and f"started partnership-{second}" in output, output
        code, output = await cli("start", str(charter_file))
        assert code == 1 and re.fullmatch(
            rf"error: slug: the store already holds a partnership '{slug}' \(Acme Analytics, started "
            r"\d{4}-\d{2}-\d{2}\); each partnership needs its own slug",
            output.strip(),
        ), output
        code, output = await cli("sign", slug, "--as", "mallory@evil.example")
        assert code == 1 and output.startswith("error: signer: mallory@evil.example is not a decision owner")
        # Dana's terminal cannot sign for the partner: `--as` names a person, the key proves who acts.
        code, output = await cli("sign", slug, "--as", "sam@acme.example", key=key_of("dana@ourco.example"))
        assert code == 1 and output.startswith("error: proof.key: SHA256:"), output
        assert "is not a key the charter holds for sam@acme.example" in output
        code, output = await cli("sign", slug, "--as", "sam@acme.example", key=tmp_path / "nobody")
        assert code == 1 and "run `partnerships login`" in output and "Traceback" not in output
        # A signature binds to the charter the signer read: another version of it is refused.
        edited = tmp_path / "edited.yaml"
        data = charter.model_dump(mode="json")
        data["goals"]["us"] = ["A goal nobody agreed to"]
        edited.write_text(json.dumps(data))
        code, output = await cli("sign", slug, "--as", "dana@ourco.example", "--charter", str(edited))
        assert code == 1 and output.startswith("error: charter_hash: you read charter sha256:"), output
        code, output = await cli("sign", slug, "--as", "dana@ourco.example", "--charter", str(charter_file))
        assert code == 0, output
        code, output = await cli("sign", slug, "--as", "sam@acme.example")
        assert code == 0, output
        assert "both sides signed the charter: Crawl begins" in output

        code, output = await cli("record", "crawl", slug, "--as", "dana@ourco.example", "--pilot", "Initech")
        assert code == 1
        assert output.splitlines() == [
            "error: --after: give the metric measured in the pilot",
            "error: --recommends/--would-not-recommend: say whether the pilot would recommend it",
        ]
        for name, after in (("Initech", "14"), ("Hooli", "15")):
            code, output = await cli(
                "record", "crawl", slug, "--as", "dana@ourco.example", "--pilot", name, "--after", after, "--recommends"
            )
            assert code == 0, output
        code, output = await cli("record", "crawl", slug, "--as", "dana@ourco.example", "--can-scale")
        assert code == 0, output

        code, output = await cli("status", slug, "--json")
        assert code == 0, output
        status = json.loads(output)
        assert (status["phase"], status["tier"], status["partner"]) == ("crawl", 2, "Acme Analytics")
        assert status["gate"]["passed"] is True
        assert {t["id"].rsplit(":", 1)[1] for t in status["open_tasks"]} == {
            "pick-pilots",
            "lightweight-integration",
            "baseline-metric",
        }

        await wait_for(client, slug, lambda s: s.partnership.step.value == "gate-review")
        code, output = await cli("list", "--phase", "crawl", "--json")
        assert code == 0, output
        listed = [row for row in json.loads(output) if row["slug"] == slug]
        assert listed and listed[0]["step"] == "gate-review" and listed[0]["review_deadline"]
        # In an 80-column terminal the table drops low-value columns, never the slug's end.
        code, output = await _cli(settings, client, "list", "--phase", "crawl", columns=80)
        assert code == 0, output
        assert any(slug in line for line in output.splitlines()), output
        assert "time in phase" not in output and all(len(line) <= 80 for line in output.splitlines())

        code, output = await cli("decide", slug, "go", "--as", "sam@acme.example")
        assert code == 1 and "is not a reviewer of this partnership" in output
        code, output = await cli("decide", slug, "restart-crawl", "--as", "lee@ourco.example", "--reason", "x")
        assert code == 1 and "not a decision at the crawl gate" in output
        code, output = await cli("decide", slug, "go", "--as", "lee@ourco.example")
        assert code == 0, output

        code, output = await cli("exit", slug, "--as", "dana@ourco.example", "--reason", "Acme was acquired")
        assert code == 0 and "exit by Dana Reyes: Acme was acquired" in output
        status = await wait_for(client, slug, lambda s: any(t.kind.value == "exit" for t in s.partnership.open_tasks))
        code, output = await cli("tasks", slug, "--json")
        assert code == 0, output
        assert {t["kind"] for t in json.loads(output)} == {"exit"}
        first, *rest = status.partnership.open_tasks
        code, output = await cli("task", "done", first.id, "--as", "dana@ourco.example")
        assert code == 0, output
        # Several at once: an id that is not open refuses them all, naming it, and closes none.
        unknown = f"{rest[0].id.rsplit(':', 1)[0]}:no-such-task"
        code, output = await cli("task", "done", *[t.id for t in rest], unknown, "--as", "dana@ourco.example")
        assert code == 1 and f"{unknown} is not an open task" in output and "Traceback" not in output
        assert {t.id for t in store.tasks(status.partnership.workflow_id, status="open")} == {t.id for t in rest}
        code, output = await cli("task", "done", *[t.id for t in rest], "--as", "dana@ourco.example")
        assert code == 0, output
        assert store.tasks(status.partnership.workflow_id, status="open") == []
        code, output = await cli("task", "done", first.id, "--as", "dana@ourco.example")
        assert code == 1 and "Traceback" not in output

        # Anyone can re-check every act from the history: each one by its person, through the CLI.
        code, output = await cli("audit", slug, "--json")
        assert code == 0, output
        acts = json.loads(output)
        assert [a["act"] for a in acts][:2] == ["sign_charter", "sign_charter"]
        assert all(a["holds"] and a["door"] == "cli" for a in acts)
        assert {a["by"] for a in acts} == {"dana@ourco.example", "sam@acme.example", "lee@ourco.example"}


def test_login_makes_a_private_key_only_its_owner_reads_and_prints_the_line_for_charters(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "COLUMNS": "200"}
    env.pop("PARTNERSHIPS_KEY_FILE", None)
    made = subprocess.run([PARTNERSHIPS, "login"], env=env, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    key = tmp_path / "partnerships" / "id_ed25519"
    assert key.stat().st_mode & 0o777 == 0o600
    line = made.stdout.strip().splitlines()[-1]
    assert line.startswith("ssh-ed25519 ") and line == (key.with_suffix(".pub")).read_text().strip()
    assert "PRIVATE KEY" not in made.stdout
    # Asked again, it keeps the key it made: a charter that lists it stays valid.
    again = subprocess.run([PARTNERSHIPS, "login"], env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == line
    # Adopting an SSH key that is not ed25519 (here: not a key at all) is one line, no traceback.
    (tmp_path / "rsa").write_text("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")
    bad = subprocess.run(
        [PARTNERSHIPS, "login", "--adopt", str(tmp_path / "rsa")], env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1 and bad.stderr.startswith("error: key: ") and "Traceback" not in bad.stderr


def test_the_cli_and_the_portfolio_query_load_without_the_domain_model_or_the_workflow() -> None:
    """`partnerships list` starts about as fast as the bare SDK only while the command line and
    the portfolio query leave the pydantic domain, the workflow and the store to the commands
    that use them."""
    probe = (
        "import sys, partnerships.cli.app, partnerships.service.portfolio_query; "
        "print([m for m in ('partnerships.domain.charter', 'partnerships.domain.lifecycle', "
        "'partnerships.service.commands', 'workflows', 'yaml', 'sqlalchemy', 'jinja2') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_charter_check_asks_slack_whether_each_slack_id_is_that_persons(tmp_path: Path) -> None:
    data = load_charter(EXAMPLE_CHARTER).model_dump(mode="json")
    data["governance"]["decision_owners"]["partner"].update(slack_user_id="U0SAMO003", slack_team_id="T0ACME001")
    charter_file = tmp_path / "charter.yaml"
    charter_file.write_text(json.dumps(data))
    # In our workspace Dana is U0DANA001, but Lee is someone other than the charter says.
    with FakeSlack(users={"dana@ourco.example": "U0DANA001", "lee@ourco.example": "U0LEE0REAL"}) as slack:
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.base_url, "SLACK_CHANNEL": CHANNEL_ID}
        result = runner.invoke(app, ["charter", "check", str(charter_file)], env=env)
        looked_up = sorted(call.args["email"] for call in slack.calls_to("users.lookupByEmail"))
    assert result.exit_code == 1, result.output
    assert "note: sam@acme.example: Slack id not checked (workspace T0ACME001, not ours)" in result.output
    assert result.output.strip().splitlines()[-1] == (
        "error: lee@ourco.example: slack_user_id: U0LEEP002 is not this person in Slack (Slack says U0LEE0REAL)"
    )
    assert looked_up == ["dana@ourco.example", "lee@ourco.example"]


def test_recommit_never_defaults_a_commitment_and_a_new_slug_is_checked_before_anything_starts(
    tmp_path: Path,
) -> None:
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:1", "PARTNERSHIPS_DATA_DIR": str(tmp_path)}
    result = runner.invoke(app, ["recommit", "acme", "--as", "dana@ourco.example"], env=env)
    assert result.exit_code == 1
    assert result.output.strip() == "error: --roi-holds/--roi-fails: say whether the ROI model still holds at scale"
    result = runner.invoke(app, ["start", str(EXAMPLE_CHARTER), "--slug", "Not A Slug!"], env=env)
    assert result.exit_code == 1 and result.output.startswith("error: slug: "), result.output
    assert "Traceback" not in result.output
