"""The one way every process (worker, CLI, tests, bench) connects to Temporal."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from partnerships.adapters.config import Settings
from partnerships.engine.converter import DATA_CONVERTER


class TemporalUnreachable(Exception):
    """No Temporal server answered at the configured address."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot reach Temporal at {address} ({reason})")
        self.address = address


async def make_client(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connected to the configured Temporal; `runtime` is the worker's when it exports metrics."""
    tls: TLSConfig | bool = settings.temporal_tls
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            api_key=api_key,
            tls=tls or bool(api_key),
            data_converter=DATA_CONVERTER,
            runtime=runtime,
        )
    except RuntimeError as error:
        # The SDK's bridge reports a failed connection as a RuntimeError: name it here, once.
        raise TemporalUnreachable(settings.temporal_address, str(error).splitlines()[0][:160]) from None


async def workflow_pollers(client: Client, task_queue: str, timeout: timedelta | None = None) -> list[str]:
    """Identities (`pid@host` by default) of the workers the server saw poll the queue for workflow tasks lately."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timeout,
    )
    return [poller.identity for poller in described.pollers]
