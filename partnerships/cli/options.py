"""Options shared by several commands, parsed into the domain's types."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from partnerships.cli.app import (
    UserError,
)

if TYPE_CHECKING:
    from partnerships.domain.lifecycle import TimeScale

_SCALE = re.compile(r"\s*1\s*w(?:eek)?\s*=\s*([0-9]*\.?[0-9]+)\s*(s|sec|second|seconds|m|min|minutes?)\s*")


def parse_time_scale(text: str | None, review_window: str | None = None) -> TimeScale:
    """`1w=1s` (one week lasts one second), `1w=2min`, or a number of seconds per week; with a
    rehearsal's own review window (`2m`, `90s`)."""
    from partnerships.domain.lifecycle import TimeScale

    if not text:
        if review_window:
            raise UserError(["--review-window: only a rehearsal (--time-scale) sets its own review window"])
        return TimeScale()
    from partnerships.domain import rules

    match = _SCALE.fullmatch(text)
    try:
        seconds = float(match.group(1)) * (60 if match.group(2).startswith("m") else 1) if match else float(text)
    except ValueError:
        raise UserError([f"--time-scale: '{text}' is not a time scale; use e.g. 1w=1s or 1w=2min"]) from None
    window = None if review_window is None else _review_window_seconds(review_window)
    try:
        return TimeScale(seconds_per_week=seconds, review_window_seconds=window)
    except ValidationError as error:
        if any(e["loc"] and e["loc"][0] == "review_window_seconds" for e in error.errors()):
            raise UserError(
                [
                    f"--review-window: '{review_window}' must last between "
                    f"{rules.SHORTEST_REVIEW_WINDOW_SECONDS} s and {rules.MAX_REVIEW_WINDOW_DAYS} days"
                ]
            ) from None
        raise UserError(
            [
                f"--time-scale: '{text}' makes a week last {seconds:g} s; it must last between "
                f"{rules.FASTEST_SECONDS_PER_WEEK:g} s and one week"
            ]
        ) from None


_WINDOW = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _review_window_seconds(text: str) -> float:
    """`2m`, `90s`, `1h`, `1d`, or a number of seconds."""
    match = _WINDOW.fullmatch(text)
    if match is None:
        try:
            return float(text)
        except ValueError:
            raise UserError([f"--review-window: '{text}' is not a duration; use e.g. 2m, 90s or 1h"]) from None
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0]]
