"""Run the partnership worker: workflows and activities, against TEMPORAL_ADDRESS.

python worker.py        # Ctrl-C or SIGTERM shuts it down gracefully

With PARTNERSHIPS_METRICS_PORT set it serves /metrics, /healthz and /readyz on that port
(README: Operating it); PARTNERSHIPS_LOG_FORMAT=json logs one JSON object per line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import NoReturn

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities import Messenger, StepRecorder
from partnerships.adapters.config import Settings
from partnerships.adapters.log_format import configure_logging
from partnerships.adapters.notifiers import SlackNotConfigured, SlackNotifier, make_email_notifier, make_notifier
from partnerships.adapters.observability import OperatorEndpoints, WorkerHealth, make_telemetry
from partnerships.adapters.store import Store, StoreVanished, make_engine
from partnerships.adapters.templates import MessageTexts, TaskList, load_task_templates, make_environment
from partnerships.adapters.temporal_client import make_client
from partnerships.engine.notifier import Notifier, NotifierMisconfigured, NotifierUnavailable
from partnerships.engine.visibility import register_missing
from partnerships.engine.workflow_runner import PartnershipSandbox
from workflows import PartnershipWorkflow

# Activities are short, blocking store and HTTP calls. More threads than this only fight
# over the GIL: with 50 partnerships starting at once, 16 threads doubled the slowest
# Update's wait (a step's local activity holds its workflow task) against 8.
ACTIVITY_THREADS = 8
# Workflow tasks this worker takes on at once. Each is held open while its step's local activity
# waits for one of the activity threads; with the SDK's 100, a burst of partnerships had so many
# tasks in flight that some could not finish within the server's 10 s workflow task timeout, and
# each timed-out task was handed out again, redoing its work: a new partnership waited minutes for
# its first task. Beyond these, tasks wait at the server in order, and nothing is done twice.
WORKFLOW_TASK_SLOTS = 2 * ACTIVITY_THREADS
# Temporal's sandbox, without two of its costs (engine/workflow_runner.py says which).
WORKFLOW_RUNNER = PartnershipSandbox()
# How long a thread may keep the GIL while another waits for it (Python's default: 5 ms). A step's
# activity thread holds the store's writer while its statements run, and after each one waits for
# the GIL back from the event loop running workflow code: up to 5 ms a statement, every thread
# queued behind it waiting as long.
GIL_SWITCH_SECONDS = 0.001
# How often the worker checks that its SQLite file is still the one it opened.
STORE_CHECK_SECONDS = 2.0
# The SDK's default: how long a workflow waits for the worker that cached it before any worker may take it.
STICKY_TIMEOUT = timedelta(seconds=10)


def build_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    notifier: Notifier | None = None,
    email: Notifier | None = None,
    store: Store | None = None,
    sticky_timeout: timedelta | None = None,
) -> Worker:
    store = store or Store(make_engine(settings.store_url))
    environment = make_environment(settings.templates_dir)
    ui_url = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
    messenger = Messenger(store, notifier or make_notifier(), MessageTexts(environment), ui_url, email=email)
    tasks = TaskList(environment, load_task_templates(settings.templates_dir))
    step_recorder = StepRecorder(store, tasks, messenger)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[PartnershipWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[step_recorder.record_step, messenger.deliver_pending_notifications],
        activity_executor=ThreadPoolExecutor(max_workers=ACTIVITY_THREADS),
        max_concurrent_activities=ACTIVITY_THREADS,
        max_concurrent_local_activities=ACTIVITY_THREADS,
        max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS,
        sticky_queue_schedule_to_start_timeout=sticky_timeout or STICKY_TIMEOUT,
    )


def tune_process() -> None:
    """What the worker's process is set to before the worker starts."""
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


async def main() -> None:
    configure_logging()  # until the settings say which format: a setting that does not load is logged too
    settings = Settings()
    configure_logging(settings.log_format)
    telemetry = make_telemetry(settings)
    client = await make_client(settings, runtime=telemetry.runtime)
    try:
        added = await register_missing(client, settings.temporal_namespace)
        if added:
            logging.info("registered search attributes: %s", ", ".join(added))
    except RPCError as error:
        # Managed namespaces may not allow it; the README says how to register them there.
        logging.warning("could not check search attributes (%s); the Web UI filters need them", error.message)
    store = Store(make_engine(settings.store_url))
    try:
        notifier = make_notifier()
        if isinstance(notifier, SlackNotifier):
            # A bad token or channel stops the worker here, before any partnership depends on it.
            logging.info("slack: %s", notifier.verify())
    except (SlackNotConfigured, NotifierMisconfigured) as error:
        logging.error("slack is misconfigured: %s", error)
        raise SystemExit(1) from None
    except NotifierUnavailable as error:
        # Slack is down, not wrong: messages wait in the outbox until it is back.
        logging.warning("slack did not answer at start-up (%s): messages wait in the outbox", error)
    try:
        email = make_email_notifier()
    except ValueError as error:
        logging.error("email is misconfigured: %s", error)
        raise SystemExit(1) from None
    if email is not None:
        logging.info("email: people without Slack get messages (and signing links) by email")
    worker = build_worker(client, settings, notifier=notifier, email=email, store=store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    vanished: list[StoreVanished] = []
    watch = asyncio.create_task(_watch_store(store, stop, vanished))
    health = WorkerHealth(client, settings.temporal_namespace, store)
    endpoints = None
    if settings.metrics_port is not None:
        endpoints = OperatorEndpoints(telemetry, health, store)
        try:
            await endpoints.start(settings.metrics_host, settings.metrics_port)
        except OSError as error:
            logging.error("cannot serve metrics on %s:%s (%s)", settings.metrics_host, settings.metrics_port, error)
            raise SystemExit(1) from None
    logging.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
    async with worker:
        health.polling(worker)
        await stop.wait()
        # Until the process exits, /healthz and /readyz say why it is going away.
        health.stopping(str(vanished[0]) if vanished else "shutting down")
        logging.info("shutting down: finishing in-flight tasks")
    watch.cancel()
    if endpoints is not None:
        await endpoints.close()
    if vanished:
        logging.critical("%s", vanished[0])
        raise SystemExit(1)


async def _watch_store(store: Store, stop: asyncio.Event, vanished: list[StoreVanished]) -> None:
    """Stop the worker when its store's file goes away: partnerships wait, nothing is written into nothing."""
    while not stop.is_set():
        try:
            store.check()
        except StoreVanished as error:
            vanished.append(error)
            stop.set()
            return
        await asyncio.sleep(STORE_CHECK_SECONDS)


def run() -> None:
    tune_process()
    try:
        asyncio.run(main())
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except KeyboardInterrupt:
        code = 130
    except Exception:
        # Logged, so that even this is one JSON line when the logs are JSON.
        logging.exception("the worker stopped on an unexpected error")
        code = 1
    exit_without_finalising(code)


def exit_without_finalising(code: int) -> NoReturn:
    """Leave once everything is logged and the worker has shut down, without the interpreter's
    finalisation, which the SDK's native threads can abort (exit -6 and "Fatal Python error:
    PyGILState_Release" instead of the code)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
