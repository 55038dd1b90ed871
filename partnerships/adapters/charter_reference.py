"""The charter file explained from the model itself: its JSON Schema, a commented template
and the README's field reference, all read from `Charter.model_json_schema()` (each field's
`description` and `examples` in `partnerships/domain/charter.py`).

`python -m partnerships.adapters.charter_reference` (`make charter-reference`) writes the
committed copies — `charters/charter.schema.json` and the README's "Charter reference"
table — and `tests/unit/test_charter_reference.py` fails when either drifts from the model.
"""

from __future__ import annotations

import copy
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from partnerships.adapters.charter_file import PEOPLE_FILE, PLACEHOLDER
from partnerships.adapters.config import REPO_ROOT
from partnerships.domain.charter import EMAIL, Charter

SCHEMA_NAME = "charter.schema.json"
SCHEMA_FILE = REPO_ROOT / "charters" / SCHEMA_NAME
README_FILE = REPO_ROOT / "README.md"
REGENERATE = "make charter-reference"
# The first line of a charter: editors running yaml-language-server complete and check it.
MODELINE = f"# yaml-language-server: $schema=./{SCHEMA_NAME}"
BEGIN = f"<!-- charter-reference: generated from partnerships/domain/charter.py by `{REGENERATE}`; edit the model -->"
END = "<!-- /charter-reference -->"

Schema = dict[str, Any]
_PERSON = "#/$defs/Person"
_WIDTH = 96


# ------------------------------------------------------------------ JSON Schema


def file_schema() -> Schema:
    """The charter file as a person writes it, for editors.

    The model's schema describes a charter after `load_charter` has completed its people
    from `people.yaml` beside it; a file may name a person by email alone, or give only the
    fields that differ from the directory. An editor cannot tell whether that directory
    exists, so this schema accepts the shorthand wherever a person goes (decision owners,
    reviewers, escalation path) — it never rejects a file the loader accepts — and
    `partnerships charter check` says the last word (an email missing from the directory).
    """
    schema = Charter.model_json_schema()
    defs: dict[str, Schema] = schema["$defs"]
    person = defs["Person"]
    defs["PersonInDirectory"] = {
        **copy.deepcopy(person),
        "title": "Person from the people directory",
        "description": f"A person listed in {PEOPLE_FILE} beside the charter: their email finds them there, "
        "and any field given here wins over the directory's.",
        "required": ["email"],
    }
    defs["PersonEntry"] = {
        "description": person["description"],
        "anyOf": [
            {"$ref": _PERSON},
            {"$ref": "#/$defs/PersonInDirectory"},
            {
                "type": "string",
                "pattern": f"^{EMAIL.pattern}$",
                "description": f"The email of a person listed in {PEOPLE_FILE} beside the charter.",
            },
        ],
    }
    for name in ("DecisionOwners", "Governance"):
        _point_people_at_entries(defs[name])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _point_people_at_entries(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("$ref") == _PERSON:
            node["$ref"] = "#/$defs/PersonEntry"
        for value in node.values():
            _point_people_at_entries(value)
    elif isinstance(node, list):
        for value in node:
            _point_people_at_entries(value)


def schema_text(schema: Schema | None = None) -> str:
    return json.dumps(file_schema() if schema is None else schema, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ reading the model's schema


class _Field:
    """One property of the model's schema, with its `$ref` and `X | None` resolved."""

    def __init__(self, name: str, prop: Schema, parent: Schema, defs: dict[str, Schema]) -> None:
        self.name = name
        self.required = name in parent.get("required", [])
        self.has_default = "default" in prop
        self.default = prop.get("default")
        self.examples: list[Any] = prop.get("examples", [])
        branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
        self.schema, self.ref = _resolve(branches[0], defs)
        self.description = prop.get("description") or self.schema.get("description", "")
        items = self.schema.get("items")
        self.items, self.items_ref = _resolve(items, defs) if items else ({}, None)

    @property
    def is_object(self) -> bool:
        return "properties" in self.schema

    @property
    def is_person(self) -> bool:
        return self.ref == "Person"

    @property
    def is_list(self) -> bool:
        return self.schema.get("type") == "array"


def _resolve(node: Schema, defs: dict[str, Schema]) -> tuple[Schema, str | None]:
    ref = node.get("$ref")
    if ref is None:
        return node, None
    name = ref.rsplit("/", 1)[-1]
    return defs[name], name


def _fields(model: Schema, defs: dict[str, Schema]) -> Iterator[_Field]:
    for name, prop in model["properties"].items():
        yield _Field(name, prop, model, defs)


def _model_schema() -> tuple[Schema, dict[str, Schema]]:
    schema = Charter.model_json_schema()
    return schema, schema["$defs"]


# ------------------------------------------------------------------ the README's reference


def _scalar_type(schema: Schema) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return "text" + (f", ≤ {schema['maxLength']} characters" if "maxLength" in schema else "")
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        high = schema.get("maximum")
        word = "whole number" if kind == "integer" else "number"
        if "exclusiveMinimum" in schema:
            return f"{word} > {_number(schema['exclusiveMinimum'])}"
        if low is not None and high is not None:
            return f"{word}, {_number(low)} to {_number(high)}"
        return word
    return str(kind)


def _type(field: _Field) -> str:
    if field.is_person:
        return "person"
    if field.is_object:
        return "section"
    if field.is_list:
        if "anyOf" in field.items:
            what = "items (text, or an exit rule: see below)"
        else:
            what = "people" if field.items_ref == "Person" else f"items ({_scalar_type(field.items)})"
        low, high = field.schema.get("minItems"), field.schema.get("maxItems")
        count = f"{low} to {high}" if low else f"up to {high}"
        return f"list of {count} {what}" if high else f"list of {what}"
    return _scalar_type(field.schema)


def _number(value: float) -> str:
    return f"{value:g}"


def _default(field: _Field) -> str:
    if field.required:
        return "—"
    value = field.default
    if isinstance(value, dict):
        return "as below"
    if value is None or value == []:
        return "none"
    if value == "":
        return '`""`'
    if isinstance(value, float | int):
        return f"`{_number(value)}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(model: Schema, defs: dict[str, Schema], prefix: str = "") -> Iterator[str]:
    for field in _fields(model, defs):
        path = prefix + field.name
        cells = [f"`{path}`", _type(field), "yes" if field.required else "no", _default(field), field.description]
        yield "| " + " | ".join(_cell(c) for c in cells) + " |"
        if field.is_object and not field.is_person:
            yield from _rows(field.schema, defs, path + ".")


_HEADER = "| field | type | required | default | what it is for |\n|---|---|---|---|---|"


def reference_markdown() -> str:
    """The field tables: every field of the charter, then every field of a person."""
    schema, defs = _model_schema()
    person = defs["Person"]
    exit_rule = defs["ExitRule"]
    return "\n".join(
        [
            _HEADER,
            *_rows(schema, defs),
            "",
            f"**An exit rule** (an item of `exit_criteria` written as a mapping). {_cell(exit_rule['description'])}",
            "",
            _HEADER,
            *_rows(exit_rule, defs),
            "",
            f"**A person** (decision owners, reviewers, the escalation path). {_cell(person['description'])}",
            "",
            _HEADER,
            *_rows(person, defs),
            "",
            f"With a `{PEOPLE_FILE}` beside the charter a person may be written as their email alone, or with "
            "only the fields that differ from the directory's (see **People directory** below).",
        ]
    )


def with_reference(readme: str) -> str:
    """`readme` with the text between the reference's markers generated afresh."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no charter reference markers ({BEGIN} … {END})")
    return readme[: start + len(BEGIN)] + "\n" + reference_markdown() + "\n" + readme[end:]


# ------------------------------------------------------------------ the template


def placeholder(example: Any) -> str:
    """A value to replace, showing an example of its form: `"<FILL IN, e.g. 6>"`."""
    shown = example if isinstance(example, str) else json.dumps(example, ensure_ascii=False)
    return json.dumps(f"{PLACEHOLDER}, e.g. {shown}>", ensure_ascii=False)


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, _WIDTH - len(indent) - 2, break_on_hyphens=False)]


def _about(field: _Field) -> str:
    allowed = field.schema.get("enum") or field.items.get("enum")
    parts = [field.description]
    if allowed:
        parts.append("Allowed: " + ", ".join(str(v) for v in allowed) + ".")
    if field.required:
        parts.append("Required.")
    elif field.has_default and field.default not in (None, [], "") and not isinstance(field.default, dict):
        parts.append(f"Optional; default {_yaml_value(field.default)}.")
    else:
        parts.append("Optional.")
    return " ".join(parts)


def _yaml_value(value: Any) -> str:
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str) and value and value.replace("-", "").isalnum():
        return value
    return json.dumps(value, ensure_ascii=False)


def _example(field: _Field) -> Any:
    if not field.examples:
        raise ValueError(f"{field.name}: a field a person must fill in needs `examples=` in the model")
    return field.examples[0]


class _Template:
    def __init__(self, defs: dict[str, Schema], tier: int | None) -> None:
        self.defs = defs
        self.tier = tier
        self.person_explained = False

    def section(self, model: Schema, indent: str) -> Iterator[str]:
        for field in _fields(model, self.defs):
            yield from _comment(_about(field), indent)
            yield from self.field(field, indent)

    def field(self, field: _Field, indent: str) -> Iterator[str]:
        name = field.name
        if field.is_person:
            yield f"{indent}{name}:"
            yield from self.person(_example(field), indent + "  ")
        elif field.is_object:
            yield f"{indent}{name}:"
            yield from self.section(field.schema, indent + "  ")
        elif field.is_list and field.items_ref == "Person":
            yield f"{indent}{name}:"
            for example in _example(field):
                yield f"{indent}  - " + self.person_inline(example)
        elif field.is_list and field.required:
            yield f"{indent}{name}:"
            yield from (f"{indent}  - {placeholder(item)}" for item in _example(field))
        elif field.is_list:
            yield f"{indent}{name}: []" + (f"  # e.g. {_flow(field.examples[0])}" if field.examples else "")
        elif name == "tier" and self.tier is not None:
            yield f"{indent}{name}: {self.tier}"
        elif field.required or (field.default == "" and field.examples):
            # An empty "what we lose" is a warning, not an error: the template asks for it anyway.
            yield f"{indent}{name}: {placeholder(_example(field))}"
        elif field.default is None:
            yield f"{indent}# {name}: {_yaml_value(field.examples[0]) if field.examples else ''}".rstrip()
        else:
            yield f"{indent}{name}: {_yaml_value(field.default)}"

    def person(self, example: dict[str, Any], indent: str) -> Iterator[str]:
        """The first person with every field explained; the others are written on one line."""
        for field in _fields(self.defs["Person"], self.defs):
            if field.required:
                yield from _comment(_about(field), indent)
                yield f"{indent}{field.name}: {placeholder(example.get(field.name, _example(field)))}"
            elif not self.person_explained:
                yield from _comment(_about(field), indent)
                shown = _flow(field.examples[0]) if field.examples else "[]"
                yield f"{indent}# {field.name}: {shown}"
        self.person_explained = True

    def person_inline(self, example: dict[str, Any]) -> str:
        required = [f for f in _fields(self.defs["Person"], self.defs) if f.required]
        return "{" + ", ".join(f"{f.name}: {placeholder(example.get(f.name, _example(f)))}" for f in required) + "}"


def _flow(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _yaml_value(value)


def charter_template(tier: int | None = None) -> str:
    """A new charter to fill in: each field commented from the model, each value a person must
    choose a `<FILL IN, e.g. …>` placeholder (`charter check` refuses it until it is replaced)."""
    schema, defs = _model_schema()
    about_tier = f" (tier {tier})" if tier is not None else ""
    header = [
        MODELINE,
        f"# A new partnership charter{about_tier}: what both sides sign before the Crawl pilot can start.",
        '# Replace every "<FILL IN, e.g. …>" with your own value (the example shows its form), then run',
        "#   partnerships charter check THIS-FILE",
        '# Every field is explained above it; README.md "Charter reference" lists them all.',
        f"# Editors check it as you type with the schema beside it: partnerships charter schema -o {SCHEMA_NAME}",
        "",
    ]
    return "\n".join([*header, *_Template(defs, tier).section(schema, "")]) + "\n"


# ------------------------------------------------------------------ regenerating the committed copies


def write_generated(schema_file: Path = SCHEMA_FILE, readme_file: Path = README_FILE) -> list[Path]:
    """Write the schema file and the README's reference afresh; returns the files that changed."""
    changed = []
    for path, text in (
        (schema_file, schema_text()),
        (readme_file, with_reference(readme_file.read_text(encoding="utf-8"))),
    ):
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main() -> None:
    changed = write_generated()
    for path in changed:
        sys.stdout.write(f"wrote {path.relative_to(REPO_ROOT)}\n")
    if not changed:
        sys.stdout.write("the charter schema and the README's charter reference are up to date\n")


if __name__ == "__main__":
    main()
