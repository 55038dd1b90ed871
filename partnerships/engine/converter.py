"""The data converter every client and worker uses: pydantic payloads, refusals as data.

An Update whose payload the workflow cannot even decode (a raw client sending a wrong
type or an unknown field) is refused before its validator runs, by the SDK. The
failure converter gives that refusal the same shape as a validator's: an
`ApplicationError` of type `Refused` with one problem per field in its details.
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import workflow
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadConverter,
)

from partnerships.engine.refusals import refusal


def field_problems(error: ValidationError) -> list[str]:
    """One line per invalid field: `path.to.field: what is wrong`."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "request"
        problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return problems


class _RefusingFailureConverter(DefaultFailureConverter):
    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        # Only inside a workflow, where a payload that fails validation is a person's bad
        # request; an activity's ValidationError stays an ordinary, retried failure.
        if isinstance(exception, ValidationError) and workflow.in_workflow():
            exception = refusal(field_problems(exception))
        super().to_failure(exception, payload_converter, failure)


# One per process. The SDK makes a payload converter for every workflow it runs, and pydantic's
# made a cache of type adapters with each: 2.5 KiB more in every cached partnership, rebuilt
# for each new one.
_PYDANTIC_JSON = PydanticJSONPlainPayloadConverter()


class _SharedPydanticPayloadConverter(PydanticPayloadConverter):
    def __init__(self) -> None:
        CompositePayloadConverter.__init__(
            self,
            *(
                _PYDANTIC_JSON if isinstance(converter, JSONPlainPayloadConverter) else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            ),
        )


DATA_CONVERTER: DataConverter = DataConverter(
    payload_converter_class=_SharedPydanticPayloadConverter, failure_converter_class=_RefusingFailureConverter
)
