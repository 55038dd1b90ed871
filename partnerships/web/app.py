"""Signing-link pages: a person follows the link from their email, reads, and acts.

GET shows what the act is about (the charter, or the gate's evidence) with the buttons for
it; POST sends the act as the same Update every other door sends, signed with the link
door's key after the link and the form's CSRF token are checked. Whatever goes wrong is
one sentence on the page, and nothing changes.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from aiohttp import web
from jinja2 import Environment
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from partnerships.adapters.keys import SigningKey
from partnerships.adapters.links import LinkAct, LinkDoorSigner, LinkRefused, Links
from partnerships.domain.charter import charter_warnings
from partnerships.domain.gates import ALLOWED_OUTCOMES, Outcome
from partnerships.domain.lifecycle import (
    DecisionRequest,
    Partnership,
    RecommitRequest,
    Request,
    SignRequest,
    parse_condition,
)
from partnerships.service import commands as service
from workflows import PartnershipWorkflow

logger = logging.getLogger(__name__)

CSRF_COOKIE = "partnerships_csrf"
UPDATES = {
    LinkAct.SIGN: PartnershipWorkflow.sign_charter,
    LinkAct.RECOMMIT: PartnershipWorkflow.recommit,
    LinkAct.DECIDE: PartnershipWorkflow.decide,
}
UNAVAILABLE = "The partnership engine did not answer; nothing was recorded. Try the link again in a minute."
# When the engine took the answer but did not confirm it in time: the person must not send it twice.
UNCONFIRMED = (
    "The partnership engine is slow to confirm your answer; it may still be recorded. "
    "Open the link again in a few minutes to see whether it was."
)


class LinkPages:
    def __init__(self, temporal: Client, links: Links, door_key: SigningKey, templates: Environment) -> None:
        self._temporal = temporal
        self._links = links
        self._door_key = door_key
        self._templates = templates

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/act/{token}", self.show), web.post("/act/{token}", self.act)]

    def _page(self, status: int = 200, **facts: Any) -> web.Response:
        page = {"refused": None, "done": None, "partnership": None, **facts}
        html = self._templates.get_template("web/act.html.j2").render(**page)
        response = web.Response(text=html, content_type="text/html", status=status)
        # The page is for its person only: no caching, no framing, no referrer carrying the link.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
        )
        return response

    def _refused(self, problem: str, status: int = 400) -> web.Response:
        return self._page(status, refused=problem)

    async def _partnership(self, workflow_id: str) -> Partnership:
        return (await service.status(self._temporal, workflow_id)).partnership

    async def show(self, request: web.Request) -> web.Response:
        try:
            link = self._links.read(request.match_info["token"])
            partnership = await self._partnership(link.workflow_id)
        except LinkRefused as refused:
            return self._refused(str(refused), 403)
        except service.Unanswered as unanswered:
            # The operator's reason goes to the log; the person gets the plain one.
            logger.warning("a link page for %s went unanswered: %s", link.workflow_id, unanswered)
            return self._refused(UNAVAILABLE, 503)
        except service.Refused as refused:
            return self._refused(str(refused), 404)
        except RPCError:
            return self._refused(UNAVAILABLE, 503)
        person = partnership.charter.person(link.email)
        if person is None:
            return self._refused("this link names someone the charter no longer lists", 403)
        if link.act is LinkAct.SIGN and link.charter_hash not in (None, partnership.charter.content_hash()):
            return self._refused(
                "the charter was amended after this link was sent; the message about the amended charter "
                "brings a link to sign it",
                409,
            )
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        charter_text = ""
        if link.act is LinkAct.SIGN:
            template = self._templates.get_template("charter.md.j2")
            charter_text = template.render(c=partnership.charter, warnings=charter_warnings(partnership.charter))
        review = partnership.review
        response = self._page(
            act=link.act.value,
            person=person,
            partnership=partnership,
            charter_text=charter_text,
            review=review,
            outcomes=[o.value for o in ALLOWED_OUTCOMES[review.gate]] if review else [],
            csrf=csrf,
            expires_at=link.expires_at,
        )
        response.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="Strict", secure=request.secure, path=request.path
        )
        return response

    async def act(self, request: web.Request) -> web.Response:
        form = await request.post()
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, str(form.get("csrf", ""))):
            return self._refused("this form did not come from the page of your link; open the link again", 403)
        try:
            link = self._links.read(request.match_info["token"])
            act = _request_for(link.act, link.email, form, link.charter_hash)
        except LinkRefused as refused:
            return self._refused(str(refused), 403)
        except FormProblem as problem:
            return self._refused(str(problem), 400)
        except (ValidationError, ValueError):
            return self._refused("the form was not filled in as the page asks; open the link again", 400)
        try:
            result = await service.update(
                self._temporal, link.workflow_id, UPDATES[link.act], act, LinkDoorSigner(self._door_key, link)
            )
        except service.Unanswered as unanswered:
            logger.warning("acting through a link on %s went unanswered: %s", link.workflow_id, unanswered)
            return self._refused(UNCONFIRMED if unanswered.may_have_landed else UNAVAILABLE, 503)
        except service.Refused as refused:
            return self._refused(str(refused), 409)
        except RPCError:
            logger.exception("acting through a link on %s failed", link.workflow_id)
            return self._refused(UNAVAILABLE, 503)
        logger.info("%s acted (%s) on %s through a link", link.email, link.act.value, link.workflow_id)
        return self._page(done=result.summary)


def _request_for(act: LinkAct, email: str, form: Any, charter_hash: str | None) -> Request:
    if act is LinkAct.SIGN:
        # The charter the link was sent for, else the one the page showed: never one changed since, unseen.
        return SignRequest(signer=email, charter_hash=charter_hash or str(form.get("charter_hash", "")))
    if act is LinkAct.RECOMMIT:
        holds = form.get("roi_model_holds")
        if holds not in ("yes", "no"):
            raise ValueError("roi_model_holds")
        return RecommitRequest(signer=email, roi_model_holds=holds == "yes")
    outcome = Outcome(str(form.get("outcome", "")))
    recheck = str(form.get("recheck_in_days", "")).strip()
    if outcome is Outcome.HOLD and recheck and not recheck.isdigit():
        raise FormProblem("recheck_in_days: a whole number of days")
    lines = [line for line in str(form.get("conditions", "")).splitlines() if line.strip()]
    try:
        conditions = (
            [parse_condition(line, n) for n, line in enumerate(lines, start=1)] if outcome is Outcome.GO else []
        )
    except ValidationError as error:
        raise FormProblem("; ".join(f"conditions: {e['msg']}" for e in error.errors())) from None
    except ValueError as error:
        raise FormProblem(str(error)) from None
    return DecisionRequest(
        reviewer=email,
        outcome=outcome,
        reason=str(form.get("reason", "")),
        # Only a hold reads the re-check field, only a go the conditions; the workflow's validator
        # says what a hold lacks.
        recheck_in_days=int(recheck) if outcome is Outcome.HOLD and recheck else None,
        conditions=conditions,
    )


class FormProblem(ValueError):
    """A field of the link's form filled in wrongly: said back to the person, one line."""


def link_app(temporal: Client, links: Links, door_key: SigningKey, templates: Environment) -> web.Application:
    application = web.Application(client_max_size=64 * 1024)
    application.router.add_routes(LinkPages(temporal, links, door_key, templates).routes())

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    application.router.add_get("/healthz", health)
    return application
