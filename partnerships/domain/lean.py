"""The base of the models a worker holds for every cached partnership (charter, lifecycle, gates).

Pydantic keeps, in each model instance, the set of field names it was given: a few hundred bytes
each, 40 % of a charter's memory, held by every partnership a worker keeps in its cache. A model
given every one of its fields (as every model read from a workflow's input or an activity's
result is) shares one such set with all others of its class. Assigning a field adds its name,
which the shared set already holds, so sharing it changes nothing anyone can observe.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel


class Lean(BaseModel):
    def model_post_init(self, context: Any, /) -> None:
        every = _every_field_name(type(self))
        if self.__pydantic_fields_set__ == every:
            object.__setattr__(self, "__pydantic_fields_set__", every)


@functools.cache
def _every_field_name(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)
