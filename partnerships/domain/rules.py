"""The crawl-walk-run framework's numbers, in one place.

Every threshold, phase length and scope limit the engine enforces is defined
here and nowhere else; the charter model, the gate evaluation and the workflow
all read them from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

# Go/no-go thresholds (DOMAIN.md §2). A charter may raise them, never silently lower them.
CRAWL_MIN_IMPROVEMENT_PCT = 20.0
WALK_MIN_ADOPTION_PCT = 70.0


@dataclass(frozen=True)
class Span:
    """An inclusive range of whole units."""

    low: int
    high: int

    def contains(self, value: int) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


# Phase lengths.
CRAWL_WEEKS = Span(4, 8)
WALK_WEEKS = Span(8, 12)
RUN_MONTHS = Span(6, 12)

# Phase scope.
CRAWL_PILOT_CUSTOMERS = Span(1, 2)
WALK_INVITED_CUSTOMERS = Span(5, 10)

# Time runs for real; demos and tests compress it, never below this many seconds per
# week (faster, and deadlines pass before a person or the machine can act).
REAL_SECONDS_PER_WEEK = 7 * 24 * 3600
FASTEST_SECONDS_PER_WEEK = 0.05
# A charter's review window is at most this long (reminder at the window, escalation at 1.5x,
# decision by policy at 2x); a rehearsal's own window (`--review-window`) too.
MAX_REVIEW_WINDOW_DAYS = 30
# ...and at least this many seconds: a window is time for a person to read the gate.
SHORTEST_REVIEW_WINDOW_SECONDS = 5
SECONDS_PER_DAY = 86_400

# Run is reviewed every quarter; a quarter is 13 weeks.
WEEKS_PER_QUARTER = 13
WEEKS_PER_MONTH = 52 / 12
DAYS_PER_WEEK = 7

# A Walk that fails may send the partnership back to Crawl this many times
# before the only way out is the exit: restarting forever is sunk cost too.
MAX_CRAWL_RESTARTS = 1

# Two red quarters in a row and the engine recommends ending the partnership.
RED_QUARTERS_BEFORE_EXIT = 2
# Two amber quarters in a row and the QBR recommends a re-validation (a Walk-style gate) first.
AMBER_QUARTERS_BEFORE_REVALIDATION = 2
# A structured exit criterion looks back at most this many quarters.
MAX_EXIT_QUARTERS = 8

# An override ("go" against a failing gate) must explain itself in words.
MIN_OVERRIDE_REASON_CHARS = 15
