"""Every act on the dev server is made by a verified person: forged, replayed, stale or moved
proofs are refused, change neither state nor history, and `audit` finds an edited history."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHistory, WorkflowUpdateFailedError

from partnerships.adapters.config import Settings
from partnerships.adapters.keys import PersonSigner, SigningKey
from partnerships.adapters.store import Store
from partnerships.domain.charter import Charter
from partnerships.domain.lifecycle import (
    AmendRequest,
    DecisionRequest,
    KeyChangeRequest,
    Outcome,
    SignAmendmentRequest,
    SignRequest,
    Step,
    TimeScale,
)
from partnerships.engine.proofs import FRESHNESS, Unsigned, act_message
from partnerships.service import audit as audits
from partnerships.service import commands as service
from tests.helpers import (
    KEYRING,
    PARTNER,
    REVIEWER,
    US,
    act,
    at,
    example_charter,
    keep_history,
    record_pilots,
    running_worker,
    settle,
    sign_both,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow as W


async def _refused_and_unchanged(client: Client, slug: str, workflow_id: str, send: Any) -> list[str]:
    """Send a forged act; return its refusal after checking nothing changed."""
    before = await settle(client, workflow_id)
    state = (await service.status(client, slug)).partnership
    with pytest.raises((service.Refused, WorkflowUpdateFailedError)) as refused:
        await send()
    assert await settle(client, workflow_id) == before
    assert (await service.status(client, slug)).partnership == state
    error = refused.value
    return error.problems if isinstance(error, service.Refused) else service.rejection_problems(error)


def _signed_at(key: SigningKey, workflow_id: str, update: str, request: Any, when: datetime) -> Any:
    unsigned = Unsigned(door="cli", key=key.public_line, signed_at=when, nonce="n" * 24)
    return unsigned.signed(key.sign(act_message(workflow_id, update, request, unsigned)))


async def test_forged_acts_through_a_raw_client_are_refused_and_leave_no_trace(
    client: Client, settings: Settings, store: Store
) -> None:
    charter, other = example_charter(), example_charter()
    handle = client.get_workflow_handle(charter.workflow_id)
    sign_partner = SignRequest(signer=PARTNER)
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        await start(client, settings, other, TimeScale())
        refused = []

        # No proof at all, as a raw Temporal client sends it (the request is the one the partner would send).
        refused += await _refused_and_unchanged(
            client, charter.slug, charter.workflow_id, lambda: handle.execute_update("sign_charter", sign_partner)
        )
        assert refused[-1].startswith("proof: the request carries no proof")
        # Our decision owner signing for the partner with her own key.
        refused += await _refused_and_unchanged(
            client,
            charter.slug,
            charter.workflow_id,
            lambda: service.update(client, charter.slug, W.sign_charter, sign_partner, KEYRING.signer_for(US)),
        )
        assert refused[-1].startswith("proof.key: ")
        # A proof made for another partnership, sent here.
        moved = KEYRING.signer_for(PARTNER).prove(other.workflow_id, "sign_charter", sign_partner)
        refused += await _refused_and_unchanged(
            client,
            charter.slug,
            charter.workflow_id,
            lambda: handle.execute_update("sign_charter", args=[sign_partner, moved]),
        )
        assert refused[-1].startswith("proof.signature: ")
        # A proof for another act: the partner's signature of the charter, replayed as an exit.
        signing = KEYRING.signer_for(PARTNER).prove(charter.workflow_id, "sign_charter", sign_partner)
        refused += await _refused_and_unchanged(
            client,
            charter.slug,
            charter.workflow_id,
            lambda: handle.execute_update("exit", args=[{"by": PARTNER, "reason": "forged"}, signing]),
        )
        assert refused[-1].startswith("proof.signature: ")
        # Signed long ago (a proof lifted from an old history), or dated in the future.
        for skew in (-2 * FRESHNESS, 2 * FRESHNESS):
            stale = _signed_at(
                KEYRING.key_for(PARTNER), charter.workflow_id, "sign_charter", sign_partner, datetime.now(UTC) + skew
            )
            refused += await _refused_and_unchanged(
                client,
                charter.slug,
                charter.workflow_id,
                lambda stale=stale: handle.execute_update("sign_charter", args=[sign_partner, stale]),
            )
            assert refused[-1].startswith("proof.signed_at: ")
        # A key line of the right shape whose bytes are no key at all.
        for blob in (bytes(51), b"\x00\x00\x00\x0bssh-ed25519" + bytes(36), b"\xff" * 51):
            nokey = signing.model_copy(update={"key": "ssh-ed25519 " + base64.b64encode(blob).decode()})
            refused += await _refused_and_unchanged(
                client,
                charter.slug,
                charter.workflow_id,
                lambda nokey=nokey: handle.execute_update("sign_charter", args=[sign_partner, nokey]),
            )
            assert refused[-1].startswith(("proof.signature: ", "proof.key: ")), refused[-1]
        # A signature of garbage bytes.
        bad = signing.model_copy(update={"signature": base64.b64encode(b"x" * 64).decode()})
        refused += await _refused_and_unchanged(
            client,
            charter.slug,
            charter.workflow_id,
            lambda: handle.execute_update("sign_charter", args=[sign_partner, bad]),
        )
        assert refused[-1].startswith("proof.signature: ")

        # The genuine act goes through once; the same signed request sent again is refused.
        await handle.execute_update("sign_charter", args=[sign_partner, signing])
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=US))
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        refused += await _refused_and_unchanged(
            client,
            charter.slug,
            charter.workflow_id,
            lambda: handle.execute_update("sign_charter", args=[sign_partner, signing]),
        )
        assert refused[-1].startswith("proof.nonce: ")
    assert len(refused) == 11


async def test_audit_names_each_act_its_person_and_door_and_flags_an_edited_history(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter)
        await sign_both(client, charter.slug)
        await record_pilots(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        await act(client, charter.slug, W.decide, DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO))
        await wait_for(client, charter.slug, at("walk", Step.UNDERWAY))
        await settle(client, charter.workflow_id)  # the last step is in the store
        runs = await audits.histories(client, charter.slug)

    acts = audits.audit(runs)
    # The store keeps each accepted act with its proof, once, in the order they were accepted.
    kept = store.acts(charter.workflow_id)
    assert [(row.update, row.actor, row.door) for row in kept] == [(a.update, a.actor, a.door) for a in acts]
    assert all(row.key_fingerprint == a.signed_with for row, a in zip(kept, acts, strict=True))
    assert [(a.update, a.actor, a.door) for a in acts] == [
        ("sign_charter", US, "cli"),
        ("sign_charter", PARTNER, "cli"),
        ("record_pilot_results", US, "cli"),
        ("record_pilot_results", US, "cli"),
        ("record_pilot_results", US, "cli"),
        ("decide", REVIEWER, "cli"),
    ]
    assert all(a.holds for a in acts)

    # Someone with write access to the history turns the go into a no-go: the proof no longer holds.
    data = json.loads(runs[0].to_json())
    for event in data["events"]:
        accepted = event.get("workflowExecutionUpdateAcceptedEventAttributes")
        if accepted and accepted["acceptedRequest"]["input"]["name"] == "decide":
            payload = accepted["acceptedRequest"]["input"]["args"]["payloads"][0]
            request = json.loads(base64.b64decode(payload["data"]))
            request["outcome"] = "no-go"
            payload["data"] = base64.b64encode(json.dumps(request).encode()).decode()
    edited = audits.audit([WorkflowHistory.from_json(charter.workflow_id, json.dumps(data))])
    assert [a.holds for a in edited] == [True] * 5 + [False]
    assert edited[-1].problems[0].startswith("proof.signature: ")


async def test_an_old_person_key_and_a_new_one_both_sign_only_for_their_owner(
    client: Client, settings: Settings, store: Store
) -> None:
    # A person may list several keys (a laptop and a desktop); each signs for them alone.
    second = SigningKey.generate("dana's desktop")
    data = example_charter().model_dump(mode="json")
    data["governance"]["decision_owners"]["us"]["keys"].append(second.public_line)
    charter = Charter.model_validate(data)
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        await service.update(client, charter.slug, W.sign_charter, SignRequest(signer=US), PersonSigner(second))
        problems = await _refused_and_unchanged(
            client,
            charter.slug,
            charter.workflow_id,
            lambda: service.update(
                client, charter.slug, W.sign_charter, SignRequest(signer=PARTNER), PersonSigner(second)
            ),
        )
        assert problems[0].startswith("proof.key: ")
        status = await service.status(client, charter.slug)
        assert [s.name for s in status.partnership.signatures] == ["Dana Reyes"]


async def test_keys_change_only_by_their_owner_or_our_decision_owner_and_the_audit_follows_them(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()
    dana_laptop, sam_new = SigningKey.generate("dana's new laptop"), SigningKey.generate("sam's new key")
    sam_old = KEYRING.key_for(PARTNER).public_line
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        # Dana enrols her new laptop with the key she already has, then signs with the new one.
        await act(client, charter.slug, W.change_keys, KeyChangeRequest(by=US, person=US, add=dana_laptop.public_line))
        await service.update(client, charter.slug, W.sign_charter, SignRequest(signer=US), PersonSigner(dana_laptop))
        # The partner cannot touch our keys.
        problems = await _refused_and_unchanged(
            client,
            charter.slug,
            charter.workflow_id,
            lambda: act(client, charter.slug, W.change_keys, KeyChangeRequest(by=PARTNER, person=US, revoke=sam_old)),
        )
        assert problems[0] == "by: only Dana Reyes or our decision owner may change Dana Reyes's keys"
        # Sam lost his laptop: our decision owner revokes its key and enrols his new one.
        await act(client, charter.slug, W.change_keys, KeyChangeRequest(by=US, person=PARTNER, revoke=sam_old))
        problems = await _refused_and_unchanged(
            client,
            charter.slug,
            charter.workflow_id,
            lambda: act(client, charter.slug, W.sign_charter, SignRequest(signer=PARTNER)),
        )
        assert problems[0].startswith("proof.key: ")
        await act(client, charter.slug, W.change_keys, KeyChangeRequest(by=US, person=PARTNER, add=sam_new.public_line))
        await service.update(client, charter.slug, W.sign_charter, SignRequest(signer=PARTNER), PersonSigner(sam_new))
        status = await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        assert [(c.person, bool(c.added), c.by) for c in status.partnership.key_changes] == [
            (US, True, US),
            (PARTNER, False, US),
            (PARTNER, True, US),
        ]
        await keep_history(client, charter.workflow_id, "keys-changed-then-signed")
        runs = await audits.histories(client, charter.slug)
    acts = audits.audit(runs)
    assert [(a.update, a.actor) for a in acts] == [
        ("change_keys", US),
        ("sign_charter", US),
        ("change_keys", US),
        ("change_keys", US),
        ("sign_charter", PARTNER),
    ]
    assert all(a.holds for a in acts), [a.problems for a in acts]


async def test_an_amendment_keeps_the_earlier_charter_and_its_signatures_and_governs_once_both_sign(
    client: Client, settings: Settings, store: Store
) -> None:
    charter = example_charter()

    def amended(**changes: Any) -> Charter:
        data = charter.model_dump(mode="json")
        for dotted, value in changes.items():
            *path, last = dotted.split("__")
            target = data
            for part in path:
                target = target[part]
            target[last] = value
        return Charter.model_validate(data)

    first = amended(goals__us=["Cut time to first dashboard for shared customers"])
    second = amended(goals__us=["Cut time to first dashboard"], timeline__walk__weeks=10)
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=US))
        # While signing, an amendment replaces the text at once: both sign the new one.
        amend = AmendRequest(by=PARTNER, charter=first, reason="our goal, in our words")
        await act(client, charter.slug, W.amend_charter, amend)
        status = await service.status(client, charter.slug)
        assert status.partnership.signatures == [] and status.partnership.charter.goals.us == first.goals.us
        [earlier] = status.partnership.charter_versions
        assert earlier.content_hash == charter.content_hash() and [s.email for s in earlier.signatures] == [US]
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=US, charter_hash=first.content_hash()))
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=PARTNER))
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))

        # In Crawl: a reviewer may not amend; a gate threshold below the framework's needs an override's reason.
        for request, problem in (
            (AmendRequest(by=REVIEWER, charter=second, reason="longer walk"), "by: lee@ourco.example is not"),
            (
                AmendRequest(by=US, charter=amended(gates__walk_min_adoption_pct=50), reason="lower"),
                "charter.gates.walk_min_adoption_pct: lowering it below the framework's needs a written reason",
            ),
        ):
            problems = await _refused_and_unchanged(
                client,
                charter.slug,
                charter.workflow_id,
                lambda r=request: act(client, charter.slug, W.amend_charter, r),
            )
            assert problems[0].startswith(problem), problems
        await act(client, charter.slug, W.amend_charter, AmendRequest(by=US, charter=second, reason="Walk: 10 weeks"))
        status = await service.status(client, charter.slug)
        assert status.partnership.amendment is not None and status.partnership.charter.timeline.walk.weeks == 8
        await settle(client, charter.workflow_id)
        [told] = [n for n in store.notifications(charter.workflow_id) if n.kind == "amendment-proposed"]
        assert told.audience == f"{US}, {PARTNER}" and "Walk: 10 weeks" in told.body
        await act(client, charter.slug, W.sign_amendment, SignAmendmentRequest(signer=PARTNER))
        await act(client, charter.slug, W.sign_amendment, SignAmendmentRequest(signer=US))
        status = await service.status(client, charter.slug)
        p = status.partnership
        assert p.amendment is None and p.charter.timeline.walk.weeks == 10 and p.phase.value == "crawl"
        assert [v.content_hash for v in p.charter_versions] == [charter.content_hash(), first.content_hash()]
        assert {s.charter_hash for s in p.signatures} == {p.charter.content_hash()}
        # The people kept their keys: an amendment does not edit them.
        assert p.charter.governance.decision_owners.us.keys == charter.governance.decision_owners.us.keys
        await settle(client, charter.workflow_id)
        await keep_history(client, charter.workflow_id, "charter-amended-while-signing-and-in-crawl")
        runs = await audits.histories(client, charter.slug)
    assert all(a.holds for a in audits.audit(runs))
