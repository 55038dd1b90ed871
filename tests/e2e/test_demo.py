"""`make demo` as a new user runs it: every phase, then the same partnership in the CLI's store."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from pathlib import Path

from temporalio.client import Client

from partnerships.adapters.config import REPO_ROOT

PARTNERSHIPS = str(Path(sys.executable).parent / "partnerships")


async def _run(env: dict[str, str], *command: str, timeout: float = 600) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_demo_and_the_cli_share_one_store_on_the_embedded_default(client: Client, tmp_path: Path) -> None:
    # A person with nothing configured: the default store under their home, as `make worker` and the CLI use.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PARTNERSHIPS_DATA_DIR"}}
    env.update(
        HOME=str(tmp_path),
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        PARTNERSHIPS_TASK_QUEUE=f"demo-{uuid.uuid4().hex[:8]}",
        DEMO_EXIT="1",
        COLUMNS="200",
    )
    code, output = await _run(env, sys.executable, "-m", "partnerships.demo")
    assert code == 0, output
    default_store = tmp_path / ".local" / "share" / "partnerships" / "partnerships.db"
    assert f"Store: sqlite:///{default_store}" in output
    slug = re.search(r"acme-analytics-demo-\d{4}-\d{6}", output)
    assert slug is not None, output

    code, listed = await _run(env, PARTNERSHIPS, "tasks", slug.group(0), "--all", "--json")
    assert code == 0, listed
    tasks = json.loads(listed)
    assert {t["id"].split(":")[1] for t in tasks} >= {"crawl-1", "walk-1", "run-kickoff"}
    # `show` asks the workflow too (a query needs a worker): one on the demo's queue, as `make worker`.
    worker = await asyncio.create_subprocess_exec(sys.executable, "worker.py", env=env, cwd=REPO_ROOT)
    try:
        for _ in range(60):  # until the worker polls: before, `show` says no worker is running
            code, shown = await _run(env, PARTNERSHIPS, "show", slug.group(0))
            if "no worker is running" not in shown:
                break
            await asyncio.sleep(0.5)
    finally:
        worker.terminate()
        await worker.wait()
    assert code == 0, shown
    assert "no tasks in the store" not in shown
    assert "Run (quarter" in shown
