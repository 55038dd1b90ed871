"""One worker in its own process, so its memory can be measured alone.

python -m bench.worker_process partnership|skeleton --task-queue Q --address HOST:PORT --database-url URL

Prints `ready` once it polls, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from bench.skeleton import SkeletonWorkflow, do_nothing
from partnerships.adapters.config import Settings
from partnerships.adapters.console import ConsoleNotifier
from partnerships.adapters.temporal_client import make_client
from worker import (
    ACTIVITY_THREADS,
    WORKFLOW_RUNNER,
    WORKFLOW_TASK_SLOTS,
    build_worker,
    exit_without_finalising,
    tune_process,
)


def skeleton_worker(client: Client, task_queue: str) -> Worker:
    # The same sandbox, activity executor and concurrency as the engine's worker: only the workflow differs.
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[SkeletonWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[do_nothing],
        activity_executor=ThreadPoolExecutor(max_workers=ACTIVITY_THREADS),
        max_concurrent_activities=ACTIVITY_THREADS,
        max_concurrent_local_activities=ACTIVITY_THREADS,
        max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS,
    )


async def serve(side: str, task_queue: str, address: str, database_url: str) -> None:
    settings = Settings(TEMPORAL_ADDRESS=address, DATABASE_URL=database_url, PARTNERSHIPS_TASK_QUEUE=task_queue)
    client = await make_client(settings)
    if side == "partnership":
        # Messages go nowhere: printing thousands of them would measure the terminal, not the engine.
        notifier = ConsoleNotifier(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
        worker = build_worker(client, settings, task_queue=task_queue, notifier=notifier)
    else:
        worker = skeleton_worker(client, task_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        print("ready", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("side", choices=["partnership", "skeleton"])
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    tune_process()  # as worker.py runs, on both sides: only the workflow differs
    # The SDK's own warnings (a failed workflow task, a slow activation) reach the bench's log.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.side, args.task_queue, args.address, args.database_url))
    exit_without_finalising(0)  # as worker.py leaves


if __name__ == "__main__":
    main()
