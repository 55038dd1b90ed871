"""The default notifier: messages are kept in the store and printed on the worker's console."""

from __future__ import annotations

import sys
from typing import TextIO

from partnerships.engine.notifier import OutgoingMessage


class ConsoleNotifier:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def deliver(self, message: OutgoingMessage) -> str:
        to = ", ".join(message.audience)
        self._stream.write(f"\n✉  [{message.kind}] to {to}\n   {message.subject}\n   {message.link}\n")
        self._stream.flush()
        return f"console:{message.key}"
