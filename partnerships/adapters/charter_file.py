"""Charters from YAML: parsed and validated into a `Charter` before any workflow starts."""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from partnerships.domain.charter import Charter, Person

# A charter is a page of text; anything far bigger or deeper is a mistake or an attack.
MAX_CHARTER_BYTES = 256 * 1024
MAX_NESTING = 20
_PLAIN_KEY = re.compile(r"[a-z_][a-z0-9_]{0,60}")


class CharterError(Exception):
    """The charter cannot be used. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _CharterLoader(yaml.SafeLoader):
    """Safe YAML, stricter still: no aliases (a 'billion laughs' bomb cannot expand), no
    duplicate keys (the second would silently win), and bounded nesting."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if self.check_event(yaml.AliasEvent):
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in a charter", event.start_mark
            )
        if self._depth >= MAX_NESTING:
            raise yaml.constructor.ConstructorError(
                None, None, f"nested deeper than {MAX_NESTING} levels", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable key", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"'{key}' appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


Location = tuple[int | str, ...]
# How the charter's tagged unions name the way an item was read ("as-text", "as-rule").
UNION_TAG = "as-"


def _location(loc: Location) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, str) and part.startswith(UNION_TAG):
            continue  # which reading of an item was tried (charter.ExitCriterion): not a field name
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "(charter)"


def format_validation_error(error: ValidationError, *, skip: Collection[Location] = ()) -> list[str]:
    """One line per problem; `skip` leaves out the problems at or under those locations."""
    problems = []
    for item in error.errors():
        location = tuple(item["loc"])
        if any(location[: len(at)] == at for at in skip):
            continue
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "invalid_key":
            # A YAML key that is not text (`?` alone gives None, `1:` a number): name it under its parent.
            location, message = location[:-1], f"key {str(location[-1])[:40]!r} is not a field name"
        if item["type"] == "extra_forbidden":
            message = "is not a charter field (typo?)"
            name = location[-1]
            if not (isinstance(name, str) and _PLAIN_KEY.fullmatch(name)):
                # A key that is not a field name at all is quoted, short, under its parent.
                location, message = location[:-1], f"{str(name)[:40]!r} is not a charter field"
        elif item["type"] == "missing":
            message = "is required"
        problems.append(f"{_location(location)}: {' '.join(message.split())}")
    return problems


PEOPLE_FILE = "people.yaml"
# How `partnerships charter new` marks a value a person must still choose: `"<FILL IN, e.g. 6>"`.
PLACEHOLDER = "<FILL IN"


def _yaml(text: str, what: str) -> Any:
    if len(text.encode("utf-8", errors="replace")) > MAX_CHARTER_BYTES:
        raise CharterError([f"{what}: is larger than {MAX_CHARTER_BYTES // 1024} KiB"])
    try:
        return yaml.load(text, Loader=_CharterLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else what
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise CharterError([f"{where}: not valid YAML: {problem}"]) from None
    except (ValueError, RecursionError) as error:
        # e.g. an integer of thousands of digits: Python refuses to convert it.
        raise CharterError([f"{what}: not a usable file: {str(error).splitlines()[0][:120]}"]) from None


def parse_people(text: str) -> dict[str, dict[str, Any]]:
    """A people directory (`people.yaml` beside the charters): each person's name, Slack ids and
    keys written once, for every charter that names them by email."""
    data = _yaml(text, PEOPLE_FILE)
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise CharterError([f"{PEOPLE_FILE}: must be a mapping with a `people:` list"])
    directory: dict[str, dict[str, Any]] = {}
    problems = []
    for index, entry in enumerate(data["people"]):
        try:
            person = Person.model_validate(entry)
        except ValidationError as error:
            problems += [f"{PEOPLE_FILE}: people[{index}].{p}" for p in format_validation_error(error)]
            continue
        directory[person.email] = person.model_dump(mode="json", exclude_defaults=True)
    if problems:
        raise CharterError(problems)
    return directory


def _with_people(data: dict[str, Any], directory: dict[str, dict[str, Any]]) -> list[str]:
    """Fill each governance entry from the directory: an email alone, or the fields a charter
    leaves out; what the charter says itself wins. Returns the emails it could not find."""
    governance = data.get("governance")
    if not isinstance(governance, dict):
        return []
    missing = []

    def filled(entry: Any, where: str) -> Any:
        email = entry if isinstance(entry, str) else entry.get("email") if isinstance(entry, dict) else None
        if not isinstance(email, str):
            return entry
        known = directory.get(email.strip().lower())
        if known is None:
            if isinstance(entry, str):
                missing.append(f"{where}: {email} is not in {PEOPLE_FILE}")
            return entry
        return {**known, **(entry if isinstance(entry, dict) else {})}

    owners = governance.get("decision_owners")
    if isinstance(owners, dict):
        for side in ("us", "partner"):
            if side in owners:
                owners[side] = filled(owners[side], f"governance.decision_owners.{side}")
    for group in ("reviewers", "escalation_path"):
        if isinstance(governance.get(group), list):
            governance[group] = [filled(e, f"governance.{group}[{i}]") for i, e in enumerate(governance[group])]
    return missing


def parse_charter(text: str, people: dict[str, dict[str, Any]] | None = None) -> Charter:
    data = _yaml(text, "(charter)")
    if not isinstance(data, dict):
        raise CharterError(["(charter): must be a mapping of charter fields, like the examples in charters/"])
    if people is not None:
        missing = _with_people(data, people)
        if missing:
            raise CharterError(missing)
    unfilled = _placeholders(data)
    problems = [f"{_location(at)}: still the template's placeholder; write your own value" for at in unfilled]
    try:
        charter = Charter.model_validate(data)
    except ValidationError as error:
        # A placeholder is named once, as one: not also as the wrong type it happens to be.
        raise CharterError(problems + format_validation_error(error, skip=unfilled)) from None
    if problems:
        raise CharterError(problems)
    return charter


def _placeholders(data: Any, at: Location = ()) -> list[Location]:
    """Where a template's `<FILL IN …>` values are still in the charter."""
    if isinstance(data, str):
        return [at] if data.lstrip().startswith(PLACEHOLDER) else []
    if isinstance(data, dict):
        return [p for key, value in data.items() if isinstance(key, str) for p in _placeholders(value, (*at, key))]
    if isinstance(data, list):
        return [p for index, value in enumerate(data) for p in _placeholders(value, (*at, index))]
    return []


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CharterError([f"{path}: no such file"]) from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as error:
        raise CharterError([f"{path}: cannot be read as a UTF-8 text file ({type(error).__name__})"]) from None


def load_charter(path: Path) -> Charter:
    """The charter in `path`, its people completed from `people.yaml` beside it when there is one."""
    text = _read(path)
    directory = path.parent / PEOPLE_FILE
    people = parse_people(_read(directory)) if directory.is_file() else None
    return parse_charter(text, people)
