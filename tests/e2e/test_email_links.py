"""The partner's door by email: a real SMTP server receives the message, headless Chromium
follows the signing link and clicks, and the act lands as the person's own (door: link).

Forged, replayed, expired and cross-site uses of a link are refused and change nothing; the
link secret, the SMTP password and the door's private key appear in no email, page, history
or store row.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from temporalio.client import Client

from partnerships.adapters.config import Settings
from partnerships.adapters.email import EmailNotifier, EmailSettings
from partnerships.adapters.links import LinkAct, Links
from partnerships.adapters.store import Store
from partnerships.adapters.templates import make_environment
from partnerships.domain.gates import Outcome
from partnerships.domain.lifecycle import DecisionRequest, SignRequest, Step, TimeScale
from partnerships.service import audit as audits
from partnerships.service import commands as service
from partnerships.web.app import CSRF_COOKIE, UNAVAILABLE, link_app
from tests.e2e.test_web_ui import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import (
    LINK_DOOR,
    PARTNER,
    REVIEWER,
    US,
    act,
    at,
    example_charter,
    record_pilots,
    running_worker,
    settle,
    start,
    wait_for,
)
from workflows import PartnershipWorkflow as W

SMTP_USER = "partnerships-mailer"


@dataclass
class Inbox:
    """What the local SMTP server received, and the credentials it accepted."""

    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class Door:
    inbox: Inbox
    links: Links
    email: EmailNotifier
    password: str
    secret: str


@pytest_asyncio.fixture
async def door(settings: Settings, client: Client) -> AsyncIterator[Door]:
    password = f"PLANTED-smtp-{uuid.uuid4().hex}"
    secret = f"PLANTED-link-secret-{uuid.uuid4().hex}"
    inbox = Inbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (SMTP_USER, password)
        if ok:
            inbox.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=ok)

    smtp_port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port, authenticator=authenticate, auth_require_tls=False)
    smtp.start()
    links = Links(secret, "http://placeholder", timedelta(hours=72))
    runner = web.AppRunner(link_app(client, links, LINK_DOOR, make_environment(settings.templates_dir)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    links.web_url = f"http://{host}:{port}"
    email = EmailNotifier(
        EmailSettings(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp_port,
            SMTP_SECURITY="none",
            SMTP_USERNAME=SMTP_USER,
            SMTP_PASSWORD=password,
            SMTP_FROM="partnerships@ourco.example",
        ),
        links,
    )
    try:
        yield Door(inbox, links, email, password, secret)
    finally:
        await runner.cleanup()
        smtp.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _mail_to(inbox: Inbox, address: str, count: int = 1, timeout: float = 30) -> list[Message]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if len(inbox.to(address)) >= count:
            return inbox.to(address)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no email to {address} within {timeout} s")


def _with_payloads_decoded(history: str) -> str:
    """The history's JSON and every payload in it decoded: a secret could hide in base64."""
    decoded = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    decoded.append(base64.b64decode(value).decode(errors="replace"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(history))
    return "\n".join([history, *decoded])


def _link_in(mail: Message) -> str:
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"(http://\S+/act/\S+)", body.decode())
    assert found, body.decode()
    return found.group(1)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
async def test_the_partner_signs_from_the_link_in_their_email_and_the_record_names_them(
    client: Client, settings: Settings, store: Store, door: Door, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    charter = example_charter()
    async with running_worker(client, settings, store, email=door.email):
        await start(client, settings, charter, TimeScale())
        [mail] = await _mail_to(door.inbox, PARTNER)
        assert mail["Subject"].startswith("Sign the Acme Analytics partnership charter")
        assert door.inbox.logins and set(door.inbox.logins) == {(SMTP_USER, door.password)}
        link = _link_in(mail)
        # The link is bound to the charter the message was about.
        assert door.links.read(link.rsplit("/", 1)[1]).charter_hash == charter.content_hash()

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(link)
                await expect(page.locator("#charter")).to_contain_text("Acme Analytics")
                await expect(page.get_by_text("You are acting as Sam")).to_be_visible()
                await page.locator("#sign").click()
                await expect(page.locator("#done")).to_contain_text("signed the charter")
                seen_pages = [await page.content()]

                # The same link again: the page still opens, but the act is spent.
                await page.goto(link)
                await page.locator("#sign").click()
                await expect(page.locator("#refused")).to_contain_text("this link was already used")
                seen_pages.append(await page.content())
            finally:
                await browser.close()

        status = await service.status(client, charter.slug)
        assert [s.name for s in status.partnership.signatures] == ["Sam Okafor"]
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=US))
        await wait_for(client, charter.slug, at("crawl", Step.UNDERWAY))
        runs = await audits.histories(client, charter.slug)

    acts = audits.audit(runs)
    assert [(a.update, a.actor, a.door, a.holds) for a in acts] == [
        ("sign_charter", PARTNER, "link", True),
        ("sign_charter", US, "cli", True),
    ]
    # Nothing secret travelled: not in the emails, the pages, the history or the store.
    everything = "\n".join(
        [
            *(m.as_string() for m in door.inbox.messages),
            *seen_pages,
            _with_payloads_decoded(runs[0].to_json()),
            Path(settings.store_url.removeprefix("sqlite:///")).read_bytes().decode(errors="replace"),
        ]
    )
    assert "Acme Analytics" in everything
    assert door.secret not in everything and door.password not in everything
    # The payloads were read: the door's public key is in the record, by design.
    assert LINK_DOOR.public_line.split()[1] in everything
    LINK_DOOR.save(tmp_path / "door")
    for line in (tmp_path / "door").read_text().splitlines():
        if line and not line.startswith("-----"):
            assert line not in everything


async def test_a_forged_expired_or_cross_site_use_of_a_link_is_refused_and_changes_nothing(
    client: Client, settings: Settings, store: Store, door: Door
) -> None:
    charter, other = example_charter(), example_charter()
    async with running_worker(client, settings, store):
        await start(client, settings, charter, TimeScale())
        await start(client, settings, other, TimeScale())
        before = await settle(client, charter.workflow_id)
        good = door.links.issue(charter.workflow_id, PARTNER, LinkAct.SIGN)
        body, _, mac = good.partition(".")
        forged = {
            "edited mac": f"{body}.{mac[:-2]}{'AA' if not mac.endswith('AA') else 'BB'}",
            "no mac": body,
            "another secret": Links("x" * 32, door.links.web_url, timedelta(hours=1)).issue(
                charter.workflow_id, PARTNER, LinkAct.SIGN
            ),
            "expired": door.links.issue(
                charter.workflow_id, PARTNER, LinkAct.SIGN, now=datetime.now(UTC) - timedelta(days=4)
            ),
            "garbage": "%00%ff<script>alert(1)",
            "huge": "A" * 5000 + "." + "B" * 10,
        }
        async with aiohttp.ClientSession() as session:
            for name, token in forged.items():
                for method in ("GET", "POST"):
                    async with session.request(method, f"{door.links.web_url}/act/{token}", data={"csrf": "x"}) as r:
                        page = await r.text()
                        assert r.status in (403, 404), (name, method, r.status)
                        assert "Nothing was recorded" in page and "<script>alert" not in page, name
            # A genuine link for a version of the charter the partnership no longer holds: refused.
            stale = door.links.issue(charter.workflow_id, PARTNER, LinkAct.SIGN, charter_hash=other.content_hash())
            async with session.get(f"{door.links.web_url}/act/{stale}") as r:
                assert r.status == 409 and "amended after this link was sent" in await r.text()
            # A genuine link, posted from another site's form (no CSRF cookie): refused.
            async with session.post(f"{door.links.web_url}/act/{good}", data={"csrf": "guess"}) as r:
                assert r.status == 403 and "did not come from the page of your link" in await r.text()
            # A genuine link for another partnership cannot act on this one: it names its own.
        # A genuine link for the other partnership, used through its page: it acts there and only there.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            elsewhere = f"{door.links.web_url}/act/{door.links.issue(other.workflow_id, PARTNER, LinkAct.SIGN)}"
            async with session.get(elsewhere) as r:
                # What the page's form sends: its hidden fields (the CSRF token, the charter's hash).
                form = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]+)"', await r.text()))
                assert r.status == 200 and set(form) == {"csrf", "charter_hash"}
            # A charter other than the one the page showed is not signed.
            async with session.post(elsewhere, data={**form, "charter_hash": "sha256:" + "0" * 64}) as r:
                assert r.status == 409 and "charter_hash: you read charter sha256:0000" in await r.text()
            async with session.post(elsewhere, data=form) as r:
                assert r.status == 200 and "Sam Okafor signed the charter" in await r.text()
        assert [s.name for s in (await service.status(client, other.slug)).partnership.signatures] == ["Sam Okafor"]
        assert await settle(client, charter.workflow_id) == before
        assert (await service.status(client, charter.slug)).partnership.signatures == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
async def test_the_partners_reviewer_completes_a_one_per_side_quorum_from_their_email_with_a_condition(
    client: Client, settings: Settings, store: Store, door: Door
) -> None:
    from playwright.async_api import async_playwright, expect

    reviewers = [
        {"name": "Lee Park", "email": REVIEWER, "side": "us"},
        {"name": "Sam Okafor", "email": PARTNER, "side": "partner"},
    ]
    charter = example_charter(governance__reviewers=reviewers, governance__quorum="one-per-side")
    async with running_worker(client, settings, store, email=door.email):
        # Minutes to act, compressed phases: Crawl is over in seconds, the review stays open.
        await start(client, settings, charter, TimeScale(seconds_per_week=0.5, review_window_seconds=600))
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=US))
        await act(client, charter.slug, W.sign_charter, SignRequest(signer=PARTNER))
        await record_pilots(client, charter.slug)
        await wait_for(client, charter.slug, at("crawl", Step.GATE_REVIEW))
        await act(client, charter.slug, W.decide, DecisionRequest(reviewer=REVIEWER, outcome=Outcome.GO))
        mails = await _mail_to(door.inbox, PARTNER, count=2)
        [review_mail] = [m for m in mails if m["Subject"].startswith("Gate review open")]
        link = _link_in(review_mail)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(link)
                await expect(page.locator("#quorum")).to_contain_text("one-per-side")
                await expect(page.locator("#votes")).to_contain_text("Lee Park: go")
                await page.locator("textarea[name=conditions]").fill(
                    f"Sign the data processing agreement | {PARTNER} | 30"
                )
                await page.locator("#decide-go").click()
                await expect(page.locator("#done")).to_contain_text("decided go")
            finally:
                await browser.close()

        status = await wait_for(
            client, charter.slug, lambda s: any(t.kind.value == "condition" for t in s.partnership.open_tasks)
        )
        await settle(client, charter.workflow_id)
        runs = await audits.histories(client, charter.slug)
    decision = status.partnership.reviews[-1].decision
    assert decision is not None and decision.quorum == "one-per-side"
    assert [(v.reviewer, v.side) for v in decision.votes] == [(REVIEWER, "us"), (PARTNER, "partner")]
    assert [(c.title, c.owner) for c in decision.conditions] == [("Sign the data processing agreement", PARTNER)]
    votes = [(a.actor, a.door, a.holds) for a in audits.audit(runs) if a.update == "decide"]
    assert votes == [(REVIEWER, "cli", True), (PARTNER, "link", True)]


async def test_with_no_worker_a_link_says_plainly_that_nothing_was_recorded_and_a_later_try_signs_once(
    client: Client, settings: Settings, store: Store, door: Door, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short waits: what is under test is what the page says once the engine gives up, not how long it waits.
    monkeypatch.setattr(service, "STATUS_FIRST_WAIT", timedelta(seconds=2))
    monkeypatch.setattr(service, "WORKER_START_GRACE", timedelta(seconds=1))
    charter = example_charter()
    await start(client, settings, charter, TimeScale())  # nobody polls this test's task queue
    url = door.links.url(door.links.issue(charter.workflow_id, PARTNER, LinkAct.SIGN))
    # The form as the page would send it: the double-submit CSRF token in its cookie and its field.
    cookies = {CSRF_COOKIE: "token"}
    form = {"csrf": "token", "charter_hash": charter.content_hash()}
    async with aiohttp.ClientSession(cookies=cookies) as session:
        async with session.get(url) as shown:
            assert (shown.status, UNAVAILABLE in await shown.text()) == (503, True)
        async with session.post(url, data=form) as posted:
            page = await posted.text()
            assert (posted.status, UNAVAILABLE in page) == (503, True)
            # The operator's reason (a task queue, `make worker`) is for the log, not the partner's page.
            assert "task queue" not in page and "make worker" not in page
    async with running_worker(client, settings, store):
        assert (await service.status(client, charter.slug)).partnership.signatures == []
        async with aiohttp.ClientSession(cookies=cookies) as session, session.post(url, data=form) as posted:
            assert posted.status == 200 and "Sam Okafor signed the charter" in await posted.text()
        signed = await service.status(client, charter.slug)
    assert [s.email for s in signed.partnership.signatures] == [PARTNER]
