"""Who did what, proven again from the workflow's history alone (`partnerships audit`).

Every accepted act is an Update in the history with its request and its proof. The audit
reads them back, run after run across continue-as-new, and checks each proof exactly as the
workflow's validator did when the act arrived: against the keys and Slack ids the
partnership held, at the time the act was accepted. A history edited after the fact (a
request changed, a proof moved, a key swapped) fails the check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from partnerships.domain import lifecycle
from partnerships.domain.charter import Charter
from partnerships.engine.contracts import StartPartnership
from partnerships.engine.converter import DATA_CONVERTER
from partnerships.engine.proofs import Door, Doors, Proof, problems_with_proof, remember_nonce
from partnerships.service.commands import workflow_id_of

# Each Update's request type, by the Update's name.
REQUESTS: dict[str, type[lifecycle.Request]] = {
    "sign_charter": lifecycle.SignRequest,
    "recommit": lifecycle.RecommitRequest,
    "record_pilot_results": lifecycle.PilotResultRequest,
    "record_walk_results": lifecycle.WalkResultRequest,
    "record_scorecard": lifecycle.ScorecardRequest,
    "decide": lifecycle.DecisionRequest,
    "exit": lifecycle.ExitRequest,
    "complete_task": lifecycle.CompleteTaskRequest,
    "change_keys": lifecycle.KeyChangeRequest,
    "amend_charter": lifecycle.AmendRequest,
    "sign_amendment": lifecycle.SignAmendmentRequest,
}


@dataclass(frozen=True)
class AuditedAct:
    at: datetime
    update: str
    actor: str
    door: str
    signed_with: str
    problems: list[str]

    @property
    def holds(self) -> bool:
        return not self.problems


async def histories(client: Client, reference: str) -> list[WorkflowHistory]:
    """Every run of the partnership, first to last, following continue-as-new."""
    workflow_id = workflow_id_of(reference)
    first = await client.get_workflow_handle(workflow_id).describe()
    run_id: str | None = first.raw_description.workflow_execution_info.first_run_id or first.run_id
    runs = []
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(history)
        last = history.events[-1] if history.events else None
        continued = last is not None and last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last is not None and continued
            else None
        )
    return runs


def audit(runs: list[WorkflowHistory]) -> list[AuditedAct]:
    """Each accepted act in these runs, with what is wrong with its proof (nothing, when it holds)."""
    acts: list[AuditedAct] = []
    seen: dict[str, datetime] = {}
    charter: Charter | None = None
    doors = Doors()
    for history in runs:
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                start = StartPartnership.model_validate_json(payloads[0].data)
                charter = start.charter or (start.resume.charter if start.resume else None)
                doors = start.doors
                continue
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                continue
            accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request.input
            at = event.event_time.ToDatetime().replace(tzinfo=UTC)
            act, request = _check(history.workflow_id, accepted.name, accepted.args.payloads, at, charter, doors, seen)
            acts.append(act)
            if isinstance(request, lifecycle.AmendRequest) and act.holds and charter is not None:
                # People an amendment adds act with the keys it gives them; everyone else keeps theirs.
                charter = lifecycle.with_current_keys(request.charter, charter)
            if isinstance(request, lifecycle.KeyChangeRequest) and act.holds and charter is not None:
                # Later acts are checked against the keys as they stood after this change.
                person = charter.person(request.person)
                if person is not None:
                    charter = charter.with_keys_changed(person.email, add=request.add, revoke=request.revoke)
    return acts


def _check(
    workflow_id: str,
    update: str,
    payloads: Sequence[Payload],
    at: datetime,
    charter: Charter | None,
    doors: Doors,
    seen: dict[str, datetime],
) -> tuple[AuditedAct, lifecycle.Request | None]:
    kind = REQUESTS.get(update)
    if kind is None or charter is None or not payloads:
        return AuditedAct(at, update, "?", "?", "?", [f"{update}: not an act this engine knows"]), None
    try:
        request = converter_decode(payloads[0], kind)
        proof = converter_decode(payloads[1], Proof) if len(payloads) > 1 else None
    except (ValidationError, ValueError) as error:
        return AuditedAct(at, update, "?", "?", "?", [f"{update}: the recorded act cannot be read ({error})"]), None
    assert isinstance(request, lifecycle.Request)
    assert proof is None or isinstance(proof, Proof)
    problems = problems_with_proof(
        proof,
        workflow_id=workflow_id,
        update=update,
        request=request,
        actor=request.actor,
        charter=charter,
        doors=doors,
        seen_nonces=seen,
        now=at,
    )
    if proof is not None:
        remember_nonce(seen, proof, at)
    door = proof.door.value if proof else "-"
    return AuditedAct(at, update, request.actor, door, _signed_with(proof), problems), request


def _signed_with(proof: Proof | None) -> str:
    if proof is None:
        return "-"
    if proof.door is Door.SLACK:
        return f"{proof.slack_user}@{proof.slack_team} via {proof.fingerprint}"
    if proof.door is Door.LINK:
        return f"link for {proof.email} via {proof.fingerprint}"
    return proof.fingerprint


def converter_decode(payload: Payload, kind: type[BaseModel]) -> BaseModel:
    [value] = DATA_CONVERTER.payload_converter.from_payloads([payload], [kind])
    if not isinstance(value, kind):
        raise ValueError(f"not a {kind.__name__}")
    return value
