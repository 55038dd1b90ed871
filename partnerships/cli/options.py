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


def parse_time_scale(text: str | None) -> TimeScale:
    """`1w=1s` (one week lasts one second), `1w=2min`, or a number of seconds per week."""
    from partnerships.domain.lifecycle import TimeScale

    if not text:
        return TimeScale()
    from partnerships.domain import rules

    match = _SCALE.fullmatch(text)
    try:
        seconds = float(match.group(1)) * (60 if match.group(2).startswith("m") else 1) if match else float(text)
    except ValueError:
        raise UserError([f"--time-scale: '{text}' is not a time scale; use e.g. 1w=1s or 1w=2min"]) from None
    try:
        return TimeScale(seconds_per_week=seconds)
    except ValidationError:
        raise UserError(
            [
                f"--time-scale: '{text}' makes a week last {seconds:g} s; it must last between "
                f"{rules.FASTEST_SECONDS_PER_WEEK:g} s and one week"
            ]
        ) from None
