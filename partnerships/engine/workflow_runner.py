"""How the worker runs a partnership's workflow code: in Temporal's sandbox, cheaply.

Two costs of the SDK's sandbox are ours to avoid, neither its protection:

- It re-imports every module it does not pass through, for every workflow run: with thousands
  of partnerships open that was most of a worker's memory. Ours hold no mutable globals and do
  nothing non-deterministic on import, so they are imported once; the sandbox's runtime checks
  (no clocks, no I/O, no randomness) still apply to them.
- Before it encodes or decodes any payload, the SDK asks the workflow which serialization
  context that payload belongs to (its workflow, or one of its activities), and the sandbox
  answers by compiling and running a snippet inside itself: about six times per payload, 39 %
  of the worker's event loop while fifty partnerships started at once (py-spy, 2026-12-03).
  The engine's converter gives the same bytes in every context (`converter.py`, pinned by a
  test), so every payload is given the workflow's own context, answered outside the sandbox.
  The workflow code itself still runs only inside it.
"""

from __future__ import annotations

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    SerializationContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import Info

PASSED_THROUGH = ("workflows", "partnerships")


class _WorkflowContextOnly(WorkflowInstance):
    """A sandboxed workflow whose payloads all take the workflow's serialization context."""

    def __init__(self, sandboxed: WorkflowInstance, info: Info) -> None:
        self._sandboxed = sandboxed
        self._context = WorkflowSerializationContext(namespace=info.namespace, workflow_id=info.workflow_id)
        # Where external storage would keep a payload: the workflow's, for its activities too (as
        # the SDK decides). Only a child workflow or a signal to another would differ; there are none.
        self._store = StorageDriverStoreContext(
            target=StorageDriverWorkflowInfo(
                id=info.workflow_id, run_id=info.run_id, type=info.workflow_type, namespace=info.namespace
            )
        )

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self._sandboxed.activate(act)

    def get_serialization_context(self, command_info: object) -> SerializationContext | None:
        return self._context

    def get_external_store_context(self, command_info: object) -> StorageDriverStoreContext:
        return self._store

    def get_info(self) -> Info:
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        # Where a deadlocked workflow's stack is read from.
        return self._sandboxed.get_thread_id()


class PartnershipSandbox(SandboxedWorkflowRunner):
    """Temporal's sandbox, with our modules passed through and payload contexts answered outside it."""

    def __init__(self) -> None:
        super().__init__(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _WorkflowContextOnly(super().create_instance(det), det.info)
