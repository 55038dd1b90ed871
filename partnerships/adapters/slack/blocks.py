"""Block Kit for partnership messages: the evidence reviewers read and the decisions they click.

Pure functions from domain objects to Slack's JSON, shared by the notifier (which
posts a review) and the Slack app (which redraws it once someone decided).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from partnerships.domain import rules
from partnerships.domain.gates import ALLOWED_OUTCOMES, Outcome
from partnerships.domain.lifecycle import Decision, GateReview
from partnerships.engine.notifier import OutgoingMessage

Block = dict[str, Any]

DECIDE_ACTION_PREFIX = "decide:"
# Buttons for the charter's signers and, before Run, for re-committing (Slack Connect: the
# partner's people click in the channel shared with them).
SIGN_ACTION = "sign-charter"
RECOMMIT_ACTION = "recommit"
SIGNING_BUTTONS = {
    "charter-ready": (SIGN_ACTION, "Sign the charter"),
    "charter-reminder": (SIGN_ACTION, "Sign the charter"),
    "recommitment-reminder": (RECOMMIT_ACTION, "Re-commit: the ROI model holds"),
}
OPEN_WORKFLOW_ACTION = "open-workflow"
DECISION_BUTTONS_BLOCK = "decision-buttons"
REASON_MODAL_CALLBACK = "decision-reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason"

# Slack's own limits; longer text is refused with invalid_blocks.
HEADER_CHARS = 150
SECTION_CHARS = 3000
BUTTON_VALUE_CHARS = 2000
MODAL_TITLE_CHARS = 24

BUTTON_LABELS = {
    Outcome.GO: "Go",
    Outcome.NO_GO: "No-go",
    Outcome.RESTART_CRAWL: "Restart Crawl",
    Outcome.EXTEND: "Extend",
    Outcome.REVALIDATE: "Re-validate",
    Outcome.HOLD: "Hold",
}


class DecisionTarget(BaseModel):
    """What a decision button carries: the partnership and the one review it decides."""

    workflow_id: str
    review_id: str


class PendingDecision(DecisionTarget):
    """A decision waiting for its written reason in a modal, and the message to redraw after."""

    outcome: Outcome
    channel: str
    message_ts: str


class ReviewCard(BaseModel):
    """Everything a gate review message shows."""

    partnership_id: str
    partner: str
    tier: int | None = None
    phase_label: str
    review: GateReview
    link: str
    # The open review's votes against its quorum, redrawn on the message after each vote.
    tally: str | None = None

    @classmethod
    def from_message(cls, message: OutgoingMessage) -> ReviewCard | None:
        """The card for a notification about a gate review; None for other notifications."""
        context = message.context
        review = context.get("review")
        if not isinstance(review, dict):
            return None
        try:
            return cls(
                partnership_id=message.partnership_id,
                partner=str(context.get("partner", "")),
                tier=context.get("tier"),
                phase_label=str(context.get("phase_label", "")),
                # The workflow leaves the raw evidence out of messages; the criteria summarise it.
                review=GateReview.model_validate({"evidence": {}, **review}),
                link=message.link,
            )
        except ValidationError:
            return None


def message_blocks(message: OutgoingMessage) -> list[Block]:
    """The blocks for one notification; a freshly opened review gets its decision buttons."""
    card = ReviewCard.from_message(message)
    if card is None:
        return generic_blocks(message)
    return review_blocks(card, title=message.subject, with_buttons=message.kind == "review-opened")


def review_blocks(
    card: ReviewCard, *, title: str, with_buttons: bool = False, decided_by_slack_user: str | None = None
) -> list[Block]:
    review = card.review
    evaluation = review.evaluation
    blocks: list[Block] = [
        {"type": "header", "text": _plain(title, HEADER_CHARS)},
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*Partnership*\n<{card.link}|{card.partnership_id}>"),
                _mrkdwn(f"*Partner*\n{escape(card.partner)}"),
                _mrkdwn(f"*Tier*\n{card.tier if card.tier is not None else '—'}"),
                _mrkdwn(f"*Phase*\n{escape(card.phase_label)} · {escape(review.label)}"),
            ],
        },
        {"type": "divider"},
    ]
    for criterion in evaluation.criteria:
        verdict = "✅ *pass*" if criterion.passed else "❌ *fail*"
        blocks.append(
            {
                "type": "section",
                "block_id": f"criterion-{criterion.key}"[:255],
                "text": _mrkdwn(
                    f"{verdict} · {escape(criterion.question)}\n"
                    f"Measured: *{escape(criterion.measured or 'not recorded')}* · "
                    f"Threshold: {escape(criterion.threshold)}"
                ),
            }
        )
    blocks.append(
        {
            "type": "section",
            "block_id": "recommendation",
            "text": _mrkdwn(
                f"*Recommendation: {evaluation.recommendation.value}* — {escape(evaluation.rationale)}\n"
                f"Gate {'passed' if evaluation.passed else 'failing'}"
            ),
        }
    )
    if review.votes or review.quorum != "any":
        lines = "\n".join(f"• {escape(v.name)}: {v.outcome.value}" for v in review.votes) or "no votes yet"
        votes = review.decision.votes if review.decision else review.votes
        blocks.append(
            {
                "type": "section",
                "block_id": "votes",
                "text": _mrkdwn(
                    f"*Votes* (quorum: {escape(review.quorum)}, {len(votes)} cast)\n{lines}"
                    + (f"\n_{escape(card.tally)}_" if card.tally and review.decision is None else "")
                ),
            }
        )
    if review.decision is None:
        blocks.append(
            {
                "type": "context",
                "block_id": "deadline",
                "elements": [
                    _mrkdwn(
                        f"Decide by {_slack_date(review.remind_at)}; after "
                        f"{_slack_date(review.policy_at)} the recommendation is applied by policy."
                    )
                ],
            }
        )
    else:
        blocks.append(decision_block(review.decision, decided_by_slack_user))
    actions: list[Block] = []
    if with_buttons and review.decision is None:
        actions += decision_buttons(card.partnership_id, review)
    actions.append(
        {
            "type": "button",
            "action_id": OPEN_WORKFLOW_ACTION,
            "text": _plain("Open in Temporal"),
            "url": card.link,
        }
    )
    blocks.append({"type": "actions", "block_id": DECISION_BUTTONS_BLOCK, "elements": actions})
    return blocks


def decision_buttons(workflow_id: str, review: GateReview) -> list[Block]:
    """One button per decision the gate allows, each naming the review it decides."""
    value = DecisionTarget(workflow_id=workflow_id, review_id=review.id).model_dump_json()
    assert len(value) <= BUTTON_VALUE_CHARS, "a review id is short by construction"
    buttons = []
    for outcome in ALLOWED_OUTCOMES[review.gate]:
        if outcome is Outcome.HOLD:
            continue  # a hold needs its re-check date: `partnerships decide … hold` or the email link
        button: Block = {
            "type": "button",
            "action_id": f"{DECIDE_ACTION_PREFIX}{outcome.value}",
            "text": _plain(BUTTON_LABELS[outcome]),
            "value": value,
        }
        if outcome is Outcome.GO and review.evaluation.passed:
            button["style"] = "primary"
        if outcome is Outcome.NO_GO:
            button["style"] = "danger"
            button["confirm"] = {
                "title": _plain("End the partnership?"),
                "text": _mrkdwn("A no-go ends it and sends the exit tasks."),
                "confirm": _plain("No-go"),
                "deny": _plain("Cancel"),
            }
        buttons.append(button)
    return buttons


def decision_block(decision: Decision, slack_user: str | None = None) -> Block:
    who = escape(decision.decided_by_name) + (f" (<@{slack_user}>)" if slack_user else "")
    text = f"*Decided: {decision.outcome.value}* by {who} on {_slack_date(decision.decided_at)}"
    if decision.overrides_failing_gate:
        text += "\n:warning: *Override of a failing gate*"
    if decision.reason:
        text += f"\n> {escape(decision.reason)}"
    return {"type": "section", "block_id": "decision", "text": _mrkdwn(text)}


def generic_blocks(message: OutgoingMessage) -> list[Block]:
    blocks: list[Block] = [{"type": "header", "text": _plain(message.subject, HEADER_CHARS)}]
    body = message.body.replace(message.link, "").strip()
    if body:
        # The templates are Markdown; Slack's mrkdwn marks bold with single asterisks.
        # Charter text is people's text: escaped, so `<!channel>` or `<url|label>` in it stays literal.
        blocks.append({"type": "section", "text": _mrkdwn(escape(body).replace("**", "*"))})
    elements: list[Block] = []
    if message.kind in SIGNING_BUTTONS:
        action_id, label = SIGNING_BUTTONS[message.kind]
        elements.append(
            {
                "type": "button",
                "action_id": action_id,
                "text": _plain(label),
                "style": "primary",
                "value": message.partnership_id,
            }
        )
    elements.append(
        {"type": "button", "action_id": OPEN_WORKFLOW_ACTION, "text": _plain("Open in Temporal"), "url": message.link}
    )
    blocks.append({"type": "actions", "elements": elements})
    return blocks


def reason_modal(pending: PendingDecision, review: GateReview) -> Block:
    """Ask for the written reason a decision needs before it is sent."""
    if pending.outcome is Outcome.GO:
        title, label = "Override failing gate", "Why go although the gate is failing?"
        failing = ", ".join(c.key for c in review.evaluation.failing)
        intro = (
            f"The {escape(review.label)} is failing ({escape(failing)}). A go needs a written reason that "
            "stays on record next to your name."
        )
        min_length = rules.MIN_OVERRIDE_REASON_CHARS
    else:
        title, label = "Restart Crawl", "What changes in the new Crawl?"
        intro = f"Restarting Crawl after the {escape(review.label)} needs the changes, written down."
        min_length = 1
    return {
        "type": "modal",
        "callback_id": REASON_MODAL_CALLBACK,
        "private_metadata": pending.model_dump_json(),
        "title": _plain(title, MODAL_TITLE_CHARS),
        "submit": _plain("Decide"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "text": _mrkdwn(intro)},
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": _plain(label),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "min_length": min_length,
                    "max_length": SECTION_CHARS,
                },
            },
        ],
    }


def _plain(text: str, limit: int = 75) -> Block:
    return {"type": "plain_text", "text": _clip(text, limit), "emoji": True}


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": _clip(text, SECTION_CHARS)}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fallback_text(message: OutgoingMessage) -> str:
    """The notification text (and what clients without blocks show): escaped like every mrkdwn text."""
    return escape(message.subject)


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_date(moment: datetime) -> str:
    """Shown in each reader's time zone; the fallback is UTC for clients that cannot."""
    fallback = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
