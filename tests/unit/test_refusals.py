"""A refusal is data all the way: its problems survive Temporal's failure encoding as a list."""

from __future__ import annotations

from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from partnerships.engine.converter import DATA_CONVERTER
from partnerships.engine.refusals import REFUSED, Refused, problems_of, refusal


def _through_temporal(error: BaseException) -> BaseException:
    """Encode the error as Temporal sends it between worker and client, and decode it again."""
    converter = DATA_CONVERTER.failure_converter
    failure = Failure()
    converter.to_failure(error, DATA_CONVERTER.payload_converter, failure)
    return converter.from_failure(failure, DATA_CONVERTER.payload_converter)


def test_a_refusal_keeps_each_problem_as_its_own_line_across_the_wire() -> None:
    problems = ["signer: eve@elsewhere.example is not a decision owner", "reason: is required"]
    received = _through_temporal(refusal(problems))
    assert isinstance(received, ApplicationError) and received.type == REFUSED
    assert problems_of(received) == problems


def test_a_problem_that_contains_a_newline_stays_one_problem() -> None:
    problems = ["reason: 'a\nb' is not allowed"]
    assert problems_of(_through_temporal(refusal(problems))) == problems


def test_a_refusal_wrapped_in_another_error_is_still_found() -> None:
    outer = ApplicationError("update failed", type="Wrapper")
    outer.__cause__ = refusal(["outcome: go is not allowed at this gate"])
    assert problems_of(_through_temporal(outer)) == ["outcome: go is not allowed at this gate"]


def test_an_error_that_is_not_a_refusal_carries_no_problems() -> None:
    assert problems_of(ApplicationError("boom", type="RuntimeError")) is None
    assert problems_of(ApplicationError("looks like one", "not a list", type=REFUSED)) is None
    assert problems_of(None) is None


def test_refused_shows_one_line_per_problem() -> None:
    assert str(Refused(["a: x", "b: y"])) == "a: x\nb: y"
    assert Refused("one problem").problems == ["one problem"]
