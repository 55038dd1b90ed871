"""Act from Slack: a click becomes the same Update the CLI sends (decide, sign, re-commit).

Who may decide and what is allowed stays with the workflow's Update validator; this
app only translates. A refusal goes privately to whoever clicked, with the
validator's words, and the partnership does not change.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import Client
from temporalio.service import RPCError

from partnerships.adapters.config import Settings
from partnerships.adapters.keys import SigningKey, SlackDoorSigner
from partnerships.adapters.slack import blocks
from partnerships.adapters.slack.settings import EVENTS_PATH, SlackSettings
from partnerships.domain.gates import Outcome
from partnerships.domain.lifecycle import DecisionRequest, GateReview, Partnership, RecommitRequest, SignRequest
from partnerships.service import commands as service
from workflows import PartnershipWorkflow

logger = logging.getLogger(__name__)

# Slack drops a modal submission that is not answered within 3 s; keep a margin.
MODAL_ANSWER_SECONDS = 2.5
DEFAULT_EXTEND_WEEKS = 2
UNAVAILABLE = "The partnership engine did not answer; nothing was decided. Try again in a minute."
UNCONFIRMED = (
    "The partnership engine is slow to confirm; your answer may still be recorded. Check again in a few minutes."
)


@dataclass(frozen=True)
class MessagePlace:
    """Where the review message is, so it can be redrawn after the decision."""

    channel: str
    ts: str


class GateDecisions:
    """Bolt listeners for the decision buttons and the reason modal."""

    def __init__(self, temporal: Client, settings: Settings, door_key: SigningKey) -> None:
        self._temporal = temporal
        self._settings = settings
        # Signs each click Slack's signature vouched for: the workflow takes this door's word
        # for the Slack user and workspace, and nothing else (engine/proofs.py).
        self._door_key = door_key

    def register(self, app: AsyncApp) -> None:
        app.action(re.compile(f"^{re.escape(blocks.DECIDE_ACTION_PREFIX)}"))(self.on_decision_button)
        app.action(blocks.OPEN_WORKFLOW_ACTION)(self.on_link_button)
        app.action(blocks.SIGN_ACTION)(self.on_signing_button)
        app.action(blocks.RECOMMIT_ACTION)(self.on_signing_button)
        app.view(blocks.REASON_MODAL_CALLBACK)(self.on_reason_submitted)

    async def on_link_button(self, ack: AsyncAck) -> None:
        # The browser follows the link; Slack still expects the click acknowledged.
        await ack()

    async def on_decision_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user, team = _clicked_by(body)
        place = MessagePlace(channel=body["channel"]["id"], ts=body["message"]["ts"])
        try:
            target = blocks.DecisionTarget.model_validate_json(action["value"])
            outcome = Outcome(action["action_id"].removeprefix(blocks.DECIDE_ACTION_PREFIX))
        except (ValidationError, ValueError):
            await self._tell(client, place, user, "This button does not name a gate review; nothing was decided.")
            return
        try:
            partnership = (await service.status(self._temporal, target.workflow_id)).partnership
        except service.Refused as missing:
            await self._tell(client, place, user, _said(missing))
            return
        except RPCError:
            await self._tell(client, place, user, UNAVAILABLE)
            return
        review = partnership.review
        if review is None or review.id != target.review_id:
            await self._explain_closed_review(client, place, user, partnership, target)
            return
        person = partnership.charter.reviewer(user)
        earlier = review.voted(person.email) if person is not None else None
        if earlier is not None and earlier.outcome is outcome:
            # A click cannot carry conditions or a re-check date: it never replaces a fuller vote.
            await self._tell(client, place, user, f"You already voted {outcome.value} on this review; nothing changed.")
            return
        if _needs_written_reason(outcome, review):
            # Everything but the missing reason is refused now, before anyone types one.
            problems = [
                problem
                for problem in partnership.problems_deciding(DecisionRequest(reviewer=user, outcome=outcome))
                if not problem.startswith("reason:")
            ]
            if problems:
                await self._tell(client, place, user, "\n".join(problems))
                return
            pending = blocks.PendingDecision(
                **target.model_dump(), outcome=outcome, channel=place.channel, message_ts=place.ts
            )
            await client.views_open(trigger_id=body["trigger_id"], view=blocks.reason_modal(pending, review))
            return
        refusal = await self._decide(client, user, team, target, outcome, "", place, partnership)
        if refusal is not None:
            await self._tell(client, place, user, refusal)

    async def on_signing_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Sign the charter, or re-commit, as whoever clicked: in a channel shared with the partner
        (Slack Connect) their signer clicks too, matched by user id and workspace."""
        await ack()
        user, team = _clicked_by(body)
        place = MessagePlace(channel=body["channel"]["id"], ts=body["message"]["ts"])
        workflow_id = str(action.get("value", ""))
        request: SignRequest | RecommitRequest
        update: Any
        if action["action_id"] == blocks.SIGN_ACTION:
            update, request = PartnershipWorkflow.sign_charter, SignRequest(signer=user)
        else:
            update, request = PartnershipWorkflow.recommit, RecommitRequest(signer=user, roi_model_holds=True)
        try:
            result = await service.update(
                self._temporal, workflow_id, update, request, SlackDoorSigner(self._door_key, user, team)
            )
        except service.Refused as refusal:
            await self._tell(client, place, user, _said(refusal))
            return
        except RPCError:
            logger.exception("signing %s from Slack failed", workflow_id)
            await self._tell(client, place, user, UNAVAILABLE)
            return
        logger.info("%s %s %s from Slack", user, action["action_id"], workflow_id)
        await self._tell(client, place, user, f"Done: {result.summary}.")

    async def on_reason_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user, team = _clicked_by(body)
        pending = blocks.PendingDecision.model_validate_json(view["private_metadata"])
        reason = view["state"]["values"][blocks.REASON_BLOCK][blocks.REASON_INPUT].get("value") or ""
        place = MessagePlace(channel=pending.channel, ts=pending.message_ts)
        refusal = await self._send_decision_in_time(user, team, pending, reason.strip())
        if refusal is not None:
            await ack(response_action="errors", errors={blocks.REASON_BLOCK: refusal[:1000]})
            return
        await ack()
        await self._redraw(client, pending, place, user)

    async def _send_decision_in_time(
        self, user: str, team: str, pending: blocks.PendingDecision, reason: str
    ) -> str | None:
        try:
            return await asyncio.wait_for(
                self._send_decision(user, team, pending, pending.outcome, reason, None), timeout=MODAL_ANSWER_SECONDS
            )
        except TimeoutError:
            return UNAVAILABLE

    async def _decide(
        self,
        client: AsyncWebClient,
        user: str,
        team: str,
        target: blocks.DecisionTarget,
        outcome: Outcome,
        reason: str,
        place: MessagePlace,
        partnership: Partnership,
    ) -> str | None:
        refusal = await self._send_decision(user, team, target, outcome, reason, partnership)
        if refusal is None:
            await self._redraw(client, target, place, user)
        return refusal

    async def _send_decision(
        self,
        user: str,
        team: str,
        target: blocks.DecisionTarget,
        outcome: Outcome,
        reason: str,
        partnership: Partnership | None,
    ) -> str | None:
        """Send the decide Update; the validator's refusal as text, or None when accepted."""
        room = partnership.extension_room_weeks() if partnership is not None else DEFAULT_EXTEND_WEEKS
        request = DecisionRequest(
            reviewer=user,
            outcome=outcome,
            reason=reason,
            # A click cannot say how long; the usual two weeks, or what the phase has left.
            extend_weeks=max(1, min(DEFAULT_EXTEND_WEEKS, room)),
        )
        try:
            await service.update(
                self._temporal,
                target.workflow_id,
                PartnershipWorkflow.decide,
                request,
                SlackDoorSigner(self._door_key, slack_user=user, slack_team=team),
            )
        except service.Refused as refusal:
            return _said(refusal)
        except RPCError:
            logger.exception("deciding %s from Slack failed", target.review_id)
            return UNAVAILABLE
        logger.info("%s voted %s on %s from Slack", user, outcome.value, target.review_id)
        return None

    async def _redraw(
        self, client: AsyncWebClient, target: blocks.DecisionTarget, place: MessagePlace, slack_user: str | None
    ) -> None:
        """Show the decision in the review message itself, in place of the buttons; while the
        quorum has not agreed, the tally of votes so far, with the buttons."""
        partnership = (await service.status(self._temporal, target.workflow_id)).partnership
        open_review = partnership.review if partnership.review and partnership.review.id == target.review_id else None
        review = open_review or next((r for r in reversed(partnership.reviews) if r.id == target.review_id), None)
        if review is None:
            return
        card = blocks.ReviewCard(
            partnership_id=partnership.workflow_id,
            partner=partnership.charter.partner.name,
            tier=int(partnership.charter.tier),
            phase_label=partnership.phase_label(),
            review=review,
            link=self._settings.workflow_url(partnership.workflow_id),
            tally=partnership.tally() if open_review is not None else None,
        )
        if review.decision is None:
            title = f"Gate review open: {card.partner} — {review.label}"
            await client.chat_update(
                channel=place.channel,
                ts=place.ts,
                text=blocks.escape(f"{title} — {card.tally}"),
                blocks=blocks.review_blocks(card, title=title, with_buttons=True),
            )
            return
        title = f"{card.partner}: {review.decision.outcome.value} at the {review.label}"
        await client.chat_update(
            channel=place.channel,
            ts=place.ts,
            text=blocks.escape(f"{title} — decided by {review.decision.decided_by_name}"),
            blocks=blocks.review_blocks(card, title=title, decided_by_slack_user=slack_user),
        )

    async def _explain_closed_review(
        self,
        client: AsyncWebClient,
        place: MessagePlace,
        user: str,
        partnership: Partnership,
        target: blocks.DecisionTarget,
    ) -> None:
        decided = next((r for r in partnership.reviews if r.id == target.review_id and r.decision), None)
        if decided is not None and decided.decision is not None:
            # Decided elsewhere (the CLI, policy, another click): bring the message up to date.
            await self._redraw(client, target, place, None)
            await self._tell(
                client,
                place,
                user,
                f"This gate review was already decided: {decided.decision.outcome.value} "
                f"by {decided.decision.decided_by_name}.",
            )
            return
        await self._tell(client, place, user, "This gate review is no longer open; nothing was decided.")

    @staticmethod
    async def _tell(client: AsyncWebClient, place: MessagePlace, user: str, text: str) -> None:
        """A message only the person who clicked sees."""
        await client.chat_postEphemeral(channel=place.channel, user=user, text=blocks.escape(text))


def _clicked_by(body: dict[str, Any]) -> tuple[str, str]:
    """The Slack user and *their own* workspace: in a channel shared with a partner (Slack
    Connect) the click's `team` is where it happened, the user's `team_id` where they belong."""
    user = body["user"]
    return user["id"], user.get("team_id") or body.get("team", {}).get("id") or ""


def _needs_written_reason(outcome: Outcome, review: GateReview) -> bool:
    return outcome is Outcome.RESTART_CRAWL or (outcome is Outcome.GO and not review.evaluation.passed)


def build_app(
    temporal: Client,
    settings: Settings,
    slack: SlackSettings,
    *,
    web_client: AsyncWebClient | None = None,
    door_key: SigningKey | None = None,
) -> AsyncApp:
    """The Bolt app with the gate decision listeners.

    Args:
        temporal: Client for the partnership workflows.
        settings: The engine's settings (for Web UI links).
        slack: Tokens and secrets, from the environment.
        web_client: Slack Web API client; built from `slack` when omitted.
        door_key: The key clicks are signed with; read from `slack.door_key_file` when omitted.
    """
    if not slack.enabled:
        raise ValueError("SLACK_BOT_TOKEN: the Slack app needs the bot token to answer clicks")
    if web_client is None:
        assert slack.bot_token is not None
        options: dict[str, Any] = {"base_url": slack.base_url} if slack.base_url else {}
        web_client = AsyncWebClient(token=slack.bot_token.get_secret_value(), **options)
    signing_secret = slack.signing_secret.get_secret_value() if slack.signing_secret else ""
    if not signing_secret and slack.app_token is None:
        raise ValueError("SLACK_SIGNING_SECRET: HTTP request URLs need the signing secret to verify Slack")
    app = AsyncApp(client=web_client, signing_secret=signing_secret, name="partnerships")
    if door_key is None:
        if slack.door_key_file is None:
            raise ValueError(
                "PARTNERSHIPS_SLACK_DOOR_KEY_FILE: the Slack app signs the clicks it checked with its own key; "
                "make one with `partnerships login --key FILE`"
            )
        door_key = SigningKey.load(slack.door_key_file)
    GateDecisions(temporal, settings, door_key).register(app)
    return app


def http_app(app: AsyncApp, path: str = EVENTS_PATH) -> web.Application:
    """An aiohttp application serving Slack's request URL; Bolt verifies every signature."""

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    application = web.Application()
    application.router.add_post(path, slack_events)
    application.router.add_get("/healthz", health)
    return application


def _said(refusal: service.Refused) -> str:
    """What a person in Slack reads: the engine's refusal as it is, but when no worker answered,
    the plain outcome (the operator's reason, a task queue and `make worker`, goes to the log)."""
    if not isinstance(refusal, service.Unanswered):
        return str(refusal)
    logger.warning("a Slack action went unanswered: %s", refusal)
    return UNCONFIRMED if refusal.may_have_landed else UNAVAILABLE
