"""Secrets come only from the environment and leak nowhere: logs, histories, the store, output."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import NoEncryption
from temporalio.client import Client

from partnerships.adapters.config import REPO_ROOT, Settings
from partnerships.adapters.store import NotificationRow, Store, make_engine
from tests.fake_slack import CHANNEL_ID, FakeSlack
from tests.helpers import KEYRING, example_charter

PARTNERSHIPS = str(Path(sys.executable).parent / "partnerships")


async def _run(env: dict[str, str], *command: str, timeout: float = 60) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_planted_secrets_appear_in_no_log_history_store_row_or_message(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    token = f"xoxb-PLANTED-{uuid.uuid4().hex}"
    signing_secret = f"PLANTED-signing-{uuid.uuid4().hex}"
    api_key = f"PLANTED-api-key-{uuid.uuid4().hex}"
    charter = example_charter()
    key_files = {}
    for person in ("dana@ourco.example", "sam@acme.example", "mallory@evil.example"):
        key_files[person] = tmp_path / "keys" / person
        KEYRING.key_for(person).save(key_files[person])
    secrets = (token, signing_secret, api_key, *_private_key_material(key_files.values()))
    charter_file = tmp_path / "charter.yaml"
    charter_file.write_text(json.dumps(charter.model_dump(mode="json")))
    seen: list[str] = []

    with FakeSlack(valid_tokens={token}) as slack:
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "DATABASE_URL": settings.store_url,
            "PARTNERSHIPS_TASK_QUEUE": settings.task_queue,
            "SLACK_BOT_TOKEN": token,
            "SLACK_SIGNING_SECRET": signing_secret,
            "SLACK_CHANNEL": CHANNEL_ID,
            "SLACK_API_URL": slack.base_url,
        }
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "worker.py",
            env=env,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            for command in (
                ["charter", "render", str(charter_file)],
                ["start", str(charter_file), "--time-scale", "1w=1s"],
                ["sign", charter.slug, "--as", "mallory@evil.example"],  # refused
                ["sign", charter.slug, "--as", "dana@ourco.example"],
                ["sign", charter.slug, "--as", "sam@acme.example"],
                ["status", charter.slug, "--json"],
                ["exit", charter.slug, "--as", "dana@ourco.example", "--reason", "secrets test"],
                ["doctor"],
            ):
                signs = {"PARTNERSHIPS_KEY_FILE": str(key_files[command[3]])} if "--as" in command else {}
                _, output = await _run({**env, **signs}, PARTNERSHIPS, *command)
                seen.append(output)
            for _ in range(300):
                rows = [n.status for n in _store_notifications(settings)]
                if rows and set(rows) == {"delivered"} and len(rows) >= 5:
                    break
                await asyncio.sleep(0.1)
            assert slack.posted(CHANNEL_ID), "the worker posted to Slack with the planted token"
        finally:
            worker.terminate()
            worker_output, _ = await worker.communicate()
        seen.append(worker_output.decode(errors="replace"))

        # A worker given a token Slack rejects stops with a clear error that does not echo the token.
        bad_token = f"xoxb-PLANTED-wrong-{uuid.uuid4().hex}"
        code, output = await _run({**env, "SLACK_BOT_TOKEN": bad_token}, sys.executable, "worker.py")
        assert code != 0 and "invalid_auth" in output and "Traceback" not in output
        assert bad_token not in output

    # An API key for a Temporal that cannot be reached is not echoed in the error either.
    code, output = await _run(
        {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", "TEMPORAL_API_KEY": api_key}, PARTNERSHIPS, "status", "x"
    )
    assert code == 1 and output.startswith("error: cannot reach Temporal")
    seen.append(output)

    history = await client.get_workflow_handle(charter.workflow_id).fetch_history()
    seen.append(history.to_json())
    seen.append(Path(settings.store_url.removeprefix("sqlite:///")).read_bytes().decode(errors="replace"))
    everything = "\n".join(seen)
    assert "Acme Analytics" in everything  # the haystack is real
    for secret in secrets:
        assert secret not in everything


def _private_key_material(paths: Iterable[Path]) -> list[str]:
    """What would betray a private key: each line of its file's body, its raw bytes in base64 and hex."""
    material = []
    for path in paths:
        lines = path.read_text().splitlines()
        material += [line for line in lines if line and not line.startswith("-----")]
        private = serialization.load_ssh_private_key(path.read_bytes(), password=None)
        raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, NoEncryption())
        material += [base64.b64encode(raw).decode(), raw.hex()]
    return material


def _store_notifications(settings: Settings) -> list[NotificationRow]:
    store = Store(make_engine(settings.store_url))
    try:
        return store.notifications()
    finally:
        store.engine.dispose()
