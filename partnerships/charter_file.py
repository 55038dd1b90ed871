"""Charters from YAML: parsed and validated into a `Charter` before any workflow starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from partnerships.domain.charter import Charter

# A charter is a page of text; anything far bigger is a mistake or an attack.
MAX_CHARTER_BYTES = 256 * 1024


class CharterError(Exception):
    """The charter cannot be used. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases, so a 'billion laughs' bomb cannot expand."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in a charter", event.start_mark
            )
        return super().compose_node(parent, index)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "(charter)"


def format_validation_error(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a charter field (typo?)"
        elif item["type"] == "missing":
            message = "is required"
        problems.append(f"{_location(tuple(item['loc']))}: {message}")
    return problems


def parse_charter(text: str) -> Charter:
    if len(text.encode("utf-8", errors="replace")) > MAX_CHARTER_BYTES:
        raise CharterError([f"(charter): is larger than {MAX_CHARTER_BYTES // 1024} KiB"])
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(charter)"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise CharterError([f"{where}: not valid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise CharterError(["(charter): must be a mapping of charter fields, like the examples in charters/"])
    try:
        return Charter.model_validate(data)
    except ValidationError as error:
        raise CharterError(format_validation_error(error)) from None


def load_charter(path: Path) -> Charter:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CharterError([f"{path}: no such file"]) from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as error:
        raise CharterError([f"{path}: cannot be read as a UTF-8 text file ({type(error).__name__})"]) from None
    return parse_charter(text)
