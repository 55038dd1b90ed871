"""The worker's sandbox gives every payload its workflow's serialization context: that loses
nothing only while the engine's converter writes the same bytes whatever the context."""

from __future__ import annotations

from temporalio.api.failure.v1 import Failure
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from partnerships.engine.contracts import StepRecord
from partnerships.engine.converter import DATA_CONVERTER
from partnerships.engine.refusals import refusal

WORKFLOW = WorkflowSerializationContext(namespace="default", workflow_id="partnership-acme")
LOCAL_ACTIVITY = ActivitySerializationContext(
    namespace="default",
    activity_id="1",
    activity_type="record_step",
    activity_task_queue="partnerships",
    workflow_id="partnership-acme",
    workflow_type="PartnershipWorkflow",
    is_local=True,
)


def test_the_converter_has_no_codec_or_external_storage_that_could_depend_on_the_context() -> None:
    assert DATA_CONVERTER.payload_codec is None
    assert DATA_CONVERTER.external_storage is None


async def test_payloads_and_failures_are_the_same_bytes_in_a_workflow_and_an_activity_context() -> None:
    values = [StepRecord(partnership_id="partnership-acme", chain_id="run-1"), {"n": 1}, "text", None]
    as_workflow = await DATA_CONVERTER.with_context(WORKFLOW).encode(values)
    as_activity = await DATA_CONVERTER.with_context(LOCAL_ACTIVITY).encode(values)
    assert [p.SerializeToString(deterministic=True) for p in as_workflow] == [
        p.SerializeToString(deterministic=True) for p in as_activity
    ]

    error = refusal(["signer: not a decision owner"])
    failures = [Failure(), Failure()]
    await DATA_CONVERTER.with_context(WORKFLOW).encode_failure(error, failures[0])
    await DATA_CONVERTER.with_context(LOCAL_ACTIVITY).encode_failure(error, failures[1])
    assert failures[0].application_failure_info.details.payloads  # the problems travel in the details
    assert failures[0] == failures[1]
