"""What a worker shows its operators on one port: Prometheus metrics, health and readiness.

    GET /metrics   the SDK runtime's metrics and the engine's own, in one scrape
    GET /healthz   200 "ok"; 503 with one problem per line (starting, stopping, Temporal or the store unreachable)
    GET /readyz    200 once the worker polls its task queue; 503 before and while it stops

The SDK's Prometheus exporter serves a port of its own and nothing else, so it listens on a
loopback port only this process uses, and `/metrics` here passes its text on. Every metric,
the engine's included, is made on the runtime's meter: one exporter, one scrape.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from partnerships.adapters.config import Settings
from partnerships.adapters.store import Store, StoreUnreachable, StoreVanished
from partnerships.engine import metrics

log = logging.getLogger("partnerships.observability")

# A health check answers within this: a dependency slower than that is as good as down for a worker.
HEALTH_TIMEOUT = timedelta(seconds=2)
# How often the store's gauges are read again: a scrape every 15 s (Prometheus' usual interval)
# sees values at most 5 s old, for one aggregate query over the outbox.
GAUGE_REFRESH_SECONDS = 5.0
# Tries at a free loopback port for the SDK's exporter (another process may take one first).
EXPORTER_PORT_ATTEMPTS = 5


@dataclass(frozen=True)
class Telemetry:
    """The runtime a worker connects with, and where its exporter listens (None: no metrics)."""

    runtime: Runtime | None
    exporter_url: str | None


def make_telemetry(settings: Settings) -> Telemetry:
    """A runtime exporting Prometheus metrics when PARTNERSHIPS_METRICS_PORT is set; with JSON logs,
    one whose own (Rust) log lines go through Python's logging, so they come out as JSON too."""
    logging_config = LoggingConfig.default
    if settings.log_format == "json":
        logging_config = LoggingConfig(
            filter=LoggingConfig.default.filter, forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio"))
        )
    if settings.metrics_port is None:
        if settings.log_format != "json":
            return Telemetry(runtime=None, exporter_url=None)
        return Telemetry(runtime=Runtime(telemetry=TelemetryConfig(logging=logging_config)), exporter_url=None)
    attempts = EXPORTER_PORT_ATTEMPTS
    while True:
        address = f"127.0.0.1:{_free_loopback_port()}"
        prometheus = PrometheusConfig(
            bind_address=address, counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True
        )
        try:
            runtime = Runtime(telemetry=TelemetryConfig(logging=logging_config, metrics=prometheus))
        except ValueError:
            # The port was taken between our probe and the exporter's bind: try another.
            attempts -= 1
            if attempts == 0:
                raise
            continue
        return Telemetry(runtime=runtime, exporter_url=f"http://{address}/metrics")


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WorkerHealth:
    """Whether the worker polls, and whether Temporal and the store answer it now."""

    def __init__(self, client: Client, namespace: str, store: Store) -> None:
        self._client = client
        self._namespace = namespace
        self._store = store
        self._worker: Worker | None = None
        self._stopping: str | None = None
        # At most one store check at a time: a database that hangs holds one thread, not one per request.
        self._store_check: asyncio.Future[None] | None = None

    def polling(self, worker: Worker) -> None:
        self._worker = worker

    def stopping(self, reason: str) -> None:
        self._stopping = reason

    def readiness(self) -> str | None:
        """None when the worker polls its task queue; otherwise why not."""
        if self._stopping is not None:
            return f"worker: stopping ({self._stopping})"
        if self._worker is not None and self._worker.is_shutdown:
            return "worker: stopped polling"
        if self._worker is None or not self._worker.is_running:
            return "worker: starting, not polling yet"
        return None

    async def problems(self) -> list[str]:
        """Everything that keeps this worker from doing its work now, one line each."""
        temporal, store = await asyncio.gather(self._temporal_problem(), self._store_problem())
        return [p for p in (self.readiness(), temporal, store) if p is not None]

    async def _temporal_problem(self) -> str | None:
        address = self._client.service_client.config.target_host
        try:
            await asyncio.wait_for(
                self._client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self._namespace), timeout=HEALTH_TIMEOUT
                ),
                HEALTH_TIMEOUT.total_seconds() + 1,
            )
        except TimeoutError:
            return f"temporal: {address} did not answer within {HEALTH_TIMEOUT.total_seconds():g} s"
        except Exception as error:
            reason = str(getattr(error, "message", "") or error).splitlines()[0][:200]
            return f"temporal: cannot reach {address} ({reason})"
        return None

    async def _store_problem(self) -> str | None:
        if self._store_check is None or self._store_check.done():
            self._store_check = asyncio.ensure_future(asyncio.to_thread(self._store.probe))
            # Its outcome is read here, or dropped when nobody waited that long: never "never retrieved".
            self._store_check.add_done_callback(lambda check: check.cancelled() or check.exception())
        try:
            await asyncio.wait_for(asyncio.shield(self._store_check), HEALTH_TIMEOUT.total_seconds())
        except TimeoutError:
            return f"store: no answer within {HEALTH_TIMEOUT.total_seconds():g} s"
        except (StoreVanished, StoreUnreachable) as error:
            return f"store: {error}"
        return None


class StoreGauges:
    """The outbox's backlog and age, and the reviews still open, read from the store by the worker process."""

    def __init__(self, meter: MetricMeter, store: Store) -> None:
        self._store = store
        self._pending = meter.create_gauge(metrics.OUTBOX_PENDING.name, metrics.OUTBOX_PENDING.description)
        self._oldest = meter.create_gauge_float(metrics.OUTBOX_OLDEST_AGE.name, metrics.OUTBOX_OLDEST_AGE.description)
        self._open_reviews = meter.create_gauge(metrics.REVIEWS_OPEN.name, metrics.REVIEWS_OPEN.description)
        self._failing = False

    async def refresh(self) -> None:
        try:
            backlog = await asyncio.to_thread(self._store.backlog)
        except Exception as error:
            # The health endpoint names the problem; the gauges keep their last values meanwhile.
            if not self._failing:
                log.warning("could not read the store's backlog for metrics: %s", str(error).splitlines()[0][:200])
            self._failing = True
            return
        self._failing = False
        oldest = backlog.oldest_pending_at
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)  # stored in UTC without its zone
        age = max((datetime.now(UTC) - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        self._pending.set(backlog.pending_messages)
        self._oldest.set(age)
        self._open_reviews.set(backlog.open_reviews)

    async def keep_refreshing(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(GAUGE_REFRESH_SECONDS)


class OperatorEndpoints:
    """The aiohttp server on PARTNERSHIPS_METRICS_HOST:PARTNERSHIPS_METRICS_PORT, and the gauges behind it."""

    def __init__(self, telemetry: Telemetry, health: WorkerHealth, store: Store) -> None:
        assert telemetry.runtime is not None and telemetry.exporter_url is not None
        self._exporter_url = telemetry.exporter_url
        self._health = health
        self._gauges = StoreGauges(telemetry.runtime.metric_meter, store)
        self._runner: web.AppRunner | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def application(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/readyz", self._readyz)
        return application

    async def start(self, host: str, port: int) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self._refreshing = asyncio.create_task(self._gauges.keep_refreshing())
        log.info("metrics and health on http://%s:%s (/metrics, /healthz, /readyz)", host, port)

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _metrics(self, _request: web.Request) -> web.Response:
        assert self._session is not None
        try:
            async with self._session.get(self._exporter_url) as answer:
                body = await answer.read()
                content_type = answer.headers.get("Content-Type", "text/plain; version=0.0.4")
        except (aiohttp.ClientError, TimeoutError) as error:
            return web.Response(status=503, text=f"metrics exporter did not answer: {error}\n")
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, _request: web.Request) -> web.Response:
        problems = await self._health.problems()
        if problems:
            return web.Response(status=503, text="\n".join(["unhealthy", *problems]) + "\n")
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        problem = self._health.readiness()
        if problem is not None:
            return web.Response(status=503, text=f"{problem}\n")
        return web.Response(text="ready\n")
