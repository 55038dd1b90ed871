"""Refusals as data: how a turned-down request travels from a validator to every door.

A validator raises `refusal(problems)`; Temporal carries it to the caller as an
`ApplicationError` of type `REFUSED` whose details hold the list of problems. The
service turns it back into `Refused(problems)`: nothing on the way parses text.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

# The ApplicationError type of a refusal; its first detail is the list of problems.
REFUSED = "Refused"


class Refused(Exception):
    """A request the engine turned down. One line per problem, for people as they are."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def refusal(problems: list[str]) -> ApplicationError:
    """The error a validator raises to refuse an Update: nothing lands in the history."""
    return ApplicationError("\n".join(problems), problems, type=REFUSED, non_retryable=True)


def problems_of(error: BaseException | None) -> list[str] | None:
    """The problems a refusal carries, or None when the error is not a refusal."""
    while isinstance(error, ApplicationError):
        if error.type == REFUSED and error.details and isinstance(error.details[0], list):
            return [str(problem) for problem in error.details[0]]
        error = error.cause
    return None
