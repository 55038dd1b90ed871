"""A local stand-in for Slack's Web API: a real HTTP server on 127.0.0.1, on a random port.

It answers the methods the engine uses the way Slack does (form or JSON bodies,
``{"ok": ...}`` answers, Retry-After on 429), keeps the messages posted per channel
(with their metadata, for conversations.history), records every call, and can be
told to fail the next calls of a method in the ways Slack fails.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk import WebClient

from partnerships.adapters.slack.notifier import make_web_client
from partnerships.adapters.slack.settings import SlackSettings

BOT_TOKEN = "xoxb-test-0123456789-abcdefSECRETtoken"
CHANNEL_ID = "C0ACME00001"
CHANNEL_NAME = "partner-acme"
# Slack sends form fields as strings; these carry JSON.
JSON_FIELDS = {"blocks", "metadata", "view", "attachments"}


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class Failure:
    """How the next call of a method fails. `posts` says whether Slack acted before failing."""

    kind: str  # "http500" | "ratelimited" | "slow" | an ok:false error code such as "invalid_auth"
    retry_after: int = 1
    delay: float = 0.0
    posts: bool = False


@dataclass
class FakeSlack:
    """Start with `with FakeSlack() as slack:`; point WebClient(base_url=slack.base_url) at it."""

    port: int = 0  # 0: any free port; a fixed one lets a test take "Slack" down and bring it back
    valid_tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    channels: dict[str, str] = field(default_factory=lambda: {CHANNEL_ID: CHANNEL_NAME})
    # The workspace's members by email: user id (users.lookupByEmail).
    users: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clock: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __enter__(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._answer(self)

            def do_POST(self) -> None:
                fake._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    # ---------------------------------------------------------- test controls

    def fail_next(self, method: str, failure: Failure, times: int = 1) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend([failure] * times)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posted(self, channel: str = CHANNEL_ID) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages.get(channel, []))

    def posted_with_key(self, key: str, channel: str = CHANNEL_ID) -> list[dict[str, Any]]:
        return [m for m in self.posted(channel) if (m.get("metadata") or {}).get("event_payload", {}).get("key") == key]

    # --------------------------------------------------------------- serving

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        method = url.path.removeprefix("/api/")
        args = self._arguments(request, url.query)
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ") or args.pop("token", None)
        with self._lock:
            self.calls.append(Call(method=method, args=dict(args), token=token))
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
        if failure is not None and failure.kind != "slow" and not failure.posts:
            self._fail(request, failure)
            return
        body = self._method(method, args, token)
        if failure is not None and failure.kind == "slow":
            # Slack acted at once; only its answer is late.
            time.sleep(failure.delay)
        if failure is not None and failure.posts:
            # Slack acted, then the answer was lost.
            self._fail(request, failure)
            return
        self._send(request, 200, body)

    @staticmethod
    def _arguments(request: BaseHTTPRequestHandler, query: str) -> dict[str, Any]:
        args: dict[str, Any] = dict(parse_qsl(query))
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length).decode() if length else ""
        if raw:
            if "json" in (request.headers.get("Content-Type") or ""):
                args.update(json.loads(raw))
            else:
                args.update(dict(parse_qsl(raw)))
        for name in JSON_FIELDS & args.keys():
            if isinstance(args[name], str):
                args[name] = json.loads(args[name])
        return args

    def _fail(self, request: BaseHTTPRequestHandler, failure: Failure) -> None:
        if failure.kind == "http500":
            self._send(request, 500, "<html>Internal Server Error</html>", content_type="text/html")
        elif failure.kind == "ratelimited":
            self._send(
                request, 429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": str(failure.retry_after)}
            )
        else:
            self._send(request, 200, {"ok": False, "error": failure.kind})

    def _method(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if token not in self.valid_tokens:
            return {"ok": False, "error": "invalid_auth" if token else "not_authed"}
        if method == "auth.test":
            return {
                "ok": True,
                "user": "partnerships",
                "user_id": "U0BOT0001",
                "team": "Our Co",
                "team_id": "T0OURCO01",
            }
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "conversations.history"):
            channel = self._channel_id(str(args.get("channel", "")))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            args["channel"] = channel
        if method == "chat.postMessage":
            return self._post(args)
        if method == "chat.update":
            return self._update(args)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "views.open":
            return {"ok": True, "view": {"id": f"V{next(self._clock):09d}", **args.get("view", {})}}
        if method == "conversations.history":
            return self._history(args)
        if method == "conversations.list":
            channels = [{"id": cid, "name": name, "is_member": True} for cid, name in self.channels.items()]
            return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}
        if method == "conversations.info":
            channel = self._channel_id(str(args.get("channel", "")))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "channel": {"id": channel, "name": self.channels[channel], "is_member": True}}
        if method == "users.lookupByEmail":
            user = self.users.get(str(args.get("email", "")))
            if user is None:
                return {"ok": False, "error": "users_not_found"}
            return {"ok": True, "user": {"id": user, "team_id": "T0OURCO01"}}
        return {"ok": False, "error": "unknown_method"}

    def _post(self, args: dict[str, Any]) -> dict[str, Any]:
        message = {
            "type": "message",
            "ts": self._next_ts(),
            "text": args.get("text", ""),
            "blocks": args.get("blocks", []),
            "metadata": args.get("metadata"),
            "bot_id": "B0BOT0001",
        }
        with self._lock:
            self.messages.setdefault(args["channel"], []).append(message)
        return {"ok": True, "channel": args["channel"], "ts": message["ts"], "message": message}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for message in self.messages.get(args["channel"], []):
                if message["ts"] == args.get("ts"):
                    message.update(text=args.get("text", ""), blocks=args.get("blocks", []))
                    return {"ok": True, "channel": args["channel"], "ts": message["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = int(args.get("limit", 100))
        with self._lock:
            newest_first = list(reversed(self.messages.get(args["channel"], [])))[:limit]
        messages = [
            {k: v for k, v in m.items() if k != "metadata" or (with_metadata and v is not None)} for m in newest_first
        ]
        return {"ok": True, "messages": messages, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _channel_id(self, channel: str) -> str | None:
        if channel in self.channels:
            return channel
        name = channel.removeprefix("#")
        return next((cid for cid, known in self.channels.items() if known == name), None)

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._clock):06d}"

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any] | str,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)


# Where message links point in tests: no Web UI is asked for them.
UI_URL = "http://temporal.example:8233/namespaces/default"


def web_client(slack: FakeSlack, token: str = BOT_TOKEN, timeout: int = 10) -> WebClient:
    """The engine's own Slack client (no retries of its own), pointed at the stand-in."""
    client = make_web_client(SlackSettings(SLACK_BOT_TOKEN=token, SLACK_API_URL=slack.base_url))
    client.timeout = timeout
    return client
