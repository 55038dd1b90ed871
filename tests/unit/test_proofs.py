"""A proof shows who sent a request; each way of forging one is refused (engine/proofs.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from partnerships.adapters.keys import Keyring, PersonSigner, SigningKey, SlackDoorSigner
from partnerships.domain.lifecycle import DecisionRequest, Outcome, SignRequest
from partnerships.engine.proofs import FRESHNESS, Doors, Proof, key_fingerprint, problems_with_proof, remember_nonce
from tests.helpers import KEYRING, PARTNER, REVIEWER, US, example_charter

CHARTER = example_charter()
WORKFLOW = CHARTER.workflow_id
DOOR = SigningKey.generate("slack-door")
SIGN = SignRequest(signer=PARTNER)


def check(
    proof: Proof | None,
    request: SignRequest | DecisionRequest = SIGN,
    *,
    workflow_id: str = WORKFLOW,
    update: str = "sign_charter",
    seen: dict[str, datetime] | None = None,
    now: datetime | None = None,
) -> list[str]:
    return problems_with_proof(
        proof,
        workflow_id=workflow_id,
        update=update,
        request=request,
        actor=request.actor,
        charter=CHARTER,
        doors=Doors(slack=[DOOR.public_line]),
        seen_nonces=seen or {},
        now=now or datetime.now(UTC),
    )


def signed_by(identity: str, request: SignRequest | DecisionRequest = SIGN, update: str = "sign_charter") -> Proof:
    return KEYRING.signer_for(identity).prove(WORKFLOW, update, request)


def test_a_request_signed_with_the_named_persons_key_is_theirs() -> None:
    assert check(signed_by(PARTNER)) == []


def test_a_request_without_a_proof_is_refused_naming_the_way_to_sign() -> None:
    [problem] = check(None)
    assert problem.startswith("proof: the request carries no proof of who sent it")


def test_signing_for_someone_else_with_your_own_key_is_refused() -> None:
    [problem] = check(signed_by(US))  # Dana's key on a request that names the partner
    assert problem == (
        f"proof.key: {key_fingerprint(KEYRING.public_line(US))} is not a key the charter holds for {PARTNER}; "
        "`partnerships login` prints yours, and `--as` only picks among your own identities"
    )


def test_a_key_nobody_listed_is_refused_even_for_a_matching_name() -> None:
    stranger = PersonSigner(SigningKey.generate()).prove(WORKFLOW, "sign_charter", SIGN)
    assert check(stranger)[0].startswith("proof.key: ")


def test_a_signature_moved_to_another_request_act_or_partnership_is_refused() -> None:
    proof = signed_by(REVIEWER, DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO), "decide")
    other = DecisionRequest(reviewer=REVIEWER, outcome=Outcome.NO_GO)
    mismatch = ["proof.signature: the signature does not match this request, this partnership or this key"]
    assert check(proof, DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO), update="decide") == []
    assert check(proof, other, update="decide") == mismatch
    assert check(proof, DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO), update="exit") == mismatch
    assert check(proof, DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO), update="decide", workflow_id="x") == (
        mismatch
    )


def test_a_proof_whose_fields_were_edited_after_signing_is_refused() -> None:
    proof = signed_by(PARTNER)
    for change in (
        {"nonce": "A" * 32},
        {"signed_at": proof.signed_at + timedelta(seconds=1)},
        {"key": KEYRING.public_line(PARTNER) + " another comment"},
    ):
        assert check(proof.model_copy(update=change))[0].startswith("proof.signature:"), change


def test_a_replayed_proof_is_refused_while_it_is_fresh_and_by_its_time_after() -> None:
    proof = signed_by(PARTNER)
    seen: dict[str, datetime] = {}
    now = datetime.now(UTC)
    remember_nonce(seen, proof, now)
    assert check(proof, seen=seen, now=now) == [
        "proof.nonce: this signed request was already used; each request is signed afresh"
    ]
    later = now + 3 * FRESHNESS
    remember_nonce(seen, signed_by(US), later)  # forgetting old nonces happens as new ones arrive
    assert proof.nonce not in seen
    assert check(proof, seen=seen, now=later)[0].startswith("proof.signed_at: ")


def test_a_proof_from_too_far_in_the_past_or_future_is_refused() -> None:
    proof = signed_by(PARTNER)
    assert check(proof, now=proof.signed_at + FRESHNESS + timedelta(seconds=1))[0].startswith("proof.signed_at: ")
    assert check(proof, now=proof.signed_at - FRESHNESS - timedelta(seconds=1))[0].startswith("proof.signed_at: ")
    assert check(proof, now=proof.signed_at + FRESHNESS - timedelta(seconds=1)) == []


def test_a_slack_click_counts_only_from_the_persons_workspace_through_a_trusted_door() -> None:
    lee = next(p for p in CHARTER.governance.reviewers if p.email == REVIEWER)
    assert lee.slack_user_id and lee.slack_team_id
    request = DecisionRequest(reviewer=lee.slack_user_id, outcome=Outcome.GO)

    def click(door: SigningKey, user: str, team: str) -> list[str]:
        return check(SlackDoorSigner(door, user, team).prove(WORKFLOW, "decide", request), request, update="decide")

    assert click(DOOR, lee.slack_user_id, lee.slack_team_id) == []
    assert click(DOOR, lee.slack_user_id, "T0ELSEWHERE")[0].startswith("proof.slack_team: ")
    assert click(DOOR, "U0DANA001", lee.slack_team_id)[0].startswith("proof.slack_team: ")
    untrusted = SigningKey.generate()
    assert click(untrusted, lee.slack_user_id, lee.slack_team_id) == [
        f"proof.key: {key_fingerprint(untrusted.public_line)} is not a slack door this partnership trusts"
    ]


def test_a_person_key_is_not_a_slack_door() -> None:
    request = DecisionRequest(reviewer="U0LEEP002", outcome=Outcome.GO)
    own_key_as_door = SlackDoorSigner(KEYRING.key_for(REVIEWER), "U0LEEP002", "T0OURCO01")
    assert "not a slack door" in check(own_key_as_door.prove(WORKFLOW, "decide", request), request, update="decide")[0]


# Hostile proofs: whatever arrives, nothing but a real signature by the right key is accepted.
text = st.text(max_size=120)
b64 = st.binary(max_size=96).map(lambda raw: base64.b64encode(raw).decode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.one_of(text, st.just(KEYRING.public_line(PARTNER)), b64.map(lambda k: f"ssh-ed25519 {k}")),
    signature=st.one_of(text, b64),
    nonce=st.one_of(text, st.from_regex(r"[A-Za-z0-9_-]{16,64}", fullmatch=True)),
    door=st.sampled_from(["cli", "slack", "email", ""]),
    skew=st.integers(min_value=-10_000, max_value=10_000),
)
def test_no_forged_proof_is_ever_accepted(key: str, signature: str, nonce: str, door: str, skew: int) -> None:
    raw = {
        "door": door,
        "key": key,
        "signed_at": datetime.now(UTC) + timedelta(seconds=skew),
        "nonce": nonce,
        "signature": signature,
    }
    try:
        proof = Proof.model_validate(raw)
    except ValidationError:
        return  # refused when decoded: the workflow never sees it
    assert check(proof) != []


def test_keys_in_a_keyring_are_distinct_per_person() -> None:
    ring = Keyring()
    assert ring.public_line(US) != ring.public_line(PARTNER)
    assert ring.public_line(US) == ring.public_line(US.upper())
