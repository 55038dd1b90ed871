"""Signing links: only a link made with the secret, unedited and unexpired, is read; a link
door's proof acts once, for the link's own person, until the link expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partnerships.adapters.keys import SigningKey
from partnerships.adapters.links import LinkAct, LinkDoorSigner, LinkRefused, Links
from partnerships.domain.lifecycle import SignRequest
from partnerships.engine.proofs import FRESHNESS, Doors, problems_with_proof, remember_nonce
from tests.helpers import PARTNER, US, example_charter

CHARTER = example_charter()
LINKS = Links("s" * 32, "http://127.0.0.1:8700", timedelta(hours=72))
DOOR = SigningKey.generate("link-door")
DOORS = Doors(link=[DOOR.public_line])


def test_a_link_reads_back_as_what_it_was_made_for() -> None:
    link = LINKS.read(LINKS.issue(CHARTER.workflow_id, "Sam@Acme.example", LinkAct.SIGN))
    assert (link.workflow_id, link.email, link.act) == (CHARTER.workflow_id, PARTNER, LinkAct.SIGN)


def test_a_link_made_with_another_secret_edited_or_expired_is_refused_in_one_line() -> None:
    token = LINKS.issue(CHARTER.workflow_id, PARTNER, LinkAct.SIGN)
    body, _, mac = token.partition(".")
    other = Links("t" * 32, LINKS.web_url, LINKS.lifetime).issue(CHARTER.workflow_id, PARTNER, LinkAct.SIGN)
    for bad in (other, f"{body}x.{mac}", f"{body}.{mac[::-1]}", body, ""):
        with pytest.raises(LinkRefused, match="not one we sent"):
            LINKS.read(bad)
    with pytest.raises(LinkRefused, match="expired"):
        LINKS.read(token, now=datetime.now(UTC) + timedelta(hours=73))


@settings(max_examples=500, deadline=None)
@given(token=st.one_of(st.text(max_size=300), st.from_regex(r"[A-Za-z0-9_-]{0,200}\.[A-Za-z0-9_-]{0,60}")))
def test_no_malformed_token_is_read_and_none_raises_anything_but_a_refusal(token: str) -> None:
    with pytest.raises(LinkRefused):
        LINKS.read(token)


def _link_proof(email: str = PARTNER, request: SignRequest | None = None, now: datetime | None = None) -> list[str]:
    link = LINKS.read(LINKS.issue(CHARTER.workflow_id, email, LinkAct.SIGN))
    request = request or SignRequest(signer=PARTNER)
    proof = LinkDoorSigner(DOOR, link).prove(CHARTER.workflow_id, "sign_charter", request)
    return problems_with_proof(
        proof,
        workflow_id=CHARTER.workflow_id,
        update="sign_charter",
        request=request,
        actor=request.actor,
        charter=CHARTER,
        doors=DOORS,
        seen_nonces={},
        now=now or datetime.now(UTC),
    )


def test_a_link_acts_only_for_the_person_it_was_made_for() -> None:
    assert _link_proof() == []
    assert _link_proof(email=US) == [f"proof.email: this link was made for someone else, not {PARTNER}"]


def test_a_link_door_proof_is_refused_after_the_link_expires() -> None:
    short = Links("s" * 32, LINKS.web_url, timedelta(minutes=1))
    link = short.read(short.issue(CHARTER.workflow_id, PARTNER, LinkAct.SIGN))
    request = SignRequest(signer=PARTNER)
    proof = LinkDoorSigner(DOOR, link).prove(CHARTER.workflow_id, "sign_charter", request)
    problems = problems_with_proof(
        proof,
        workflow_id=CHARTER.workflow_id,
        update="sign_charter",
        request=request,
        actor=PARTNER,
        charter=CHARTER,
        doors=DOORS,
        seen_nonces={},
        now=link.expires_at + timedelta(seconds=1),
    )
    assert problems == [f"proof.expires_at: this link expired at {link.expires_at:%Y-%m-%d %H:%M %Z}"]


def test_a_spent_link_is_remembered_until_it_expires_not_just_for_ten_minutes() -> None:
    link = LINKS.read(LINKS.issue(CHARTER.workflow_id, PARTNER, LinkAct.SIGN))
    proof = LinkDoorSigner(DOOR, link).prove(CHARTER.workflow_id, "sign_charter", SignRequest(signer=PARTNER))
    seen: dict[str, datetime] = {}
    remember_nonce(seen, proof, proof.signed_at)
    remember_nonce(seen, proof.model_copy(update={"nonce": "x" * 20, "expires_at": None}), link.expires_at)
    assert link.nonce in seen
    remember_nonce(seen, proof.model_copy(update={"nonce": "y" * 20, "expires_at": None}), link.expires_at + FRESHNESS)
    assert link.nonce not in seen
