"""Durations the way people say them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SECONDS_PER_DAY = 86_400


def humanize(duration: timedelta) -> str:
    """A duration the way people say it: 45s, 12m, 5h, 3d, 6w."""
    seconds = max(0, int(duration.total_seconds()))
    for unit, size in (("w", 7 * SECONDS_PER_DAY), ("d", SECONDS_PER_DAY), ("h", 3600), ("m", 60)):
        # Two weeks and more read as weeks; below that the next unit is more telling.
        if seconds >= size * (2 if unit == "w" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def moment(at: datetime, *, seconds: bool = False) -> str:
    """A date and time people can act on, with its time zone: `2026-12-14 09:00 UTC`.

    Rehearsals show seconds, since their deadlines are seconds apart."""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M{':%S' if seconds else ''}} UTC"
