"""Our search attributes fit SQL visibility, the one `make cluster` and docker-compose run.

SQL visibility keeps custom search attributes in columns the schema allocates in advance,
a fixed number per type (Temporal v1.32.0: `defaultNumDBCustomSearchAttributes` in
common/searchattribute/sadefs/constants.go, the `Keyword01`… columns of
schema/postgresql/v12/visibility/schema.sql). One attribute too many of a type and the
namespace refuses it: `list --phase` and the Web UI's columns would break on the cluster
while the dev server (SQLite, no such limit) still passes every other test.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import pytest
from temporalio.common import SearchAttributeIndexedValueType as Kind
from temporalio.common import SearchAttributeKey

from devtools import builds
from partnerships.engine.search_attributes import ALL_KEYS

# Columns per type in Temporal v1.32.0's SQL visibility (PostgreSQL, MySQL and SQLite alike).
SQL_VISIBILITY_COLUMNS = {
    Kind.BOOL: 3,
    Kind.DATETIME: 3,
    Kind.DOUBLE: 3,
    Kind.INT: 3,
    Kind.KEYWORD: 10,
    Kind.KEYWORD_LIST: 3,
    Kind.TEXT: 3,
}
# How the schema names its columns for each type (`Datetime01`, `KeywordList03`, …).
_COLUMN_PREFIX = {
    Kind.BOOL: "Bool",
    Kind.DATETIME: "Datetime",
    Kind.DOUBLE: "Double",
    Kind.INT: "Int",
    Kind.KEYWORD: "Keyword",
    Kind.KEYWORD_LIST: "KeywordList",
    Kind.TEXT: "Text",
}


def over_the_limits(keys: Iterable[SearchAttributeKey]) -> dict[str, str]:
    """Each type with more attributes than SQL visibility has columns: "used of available"."""
    used = Counter(key.indexed_value_type for key in keys)
    return {
        kind.name: f"{count} of {SQL_VISIBILITY_COLUMNS[kind]}"
        for kind, count in used.items()
        if count > SQL_VISIBILITY_COLUMNS[kind]
    }


def test_every_type_of_our_search_attributes_fits_sql_visibility() -> None:
    assert over_the_limits(ALL_KEYS) == {}, "more search attributes of a type than SQL visibility has columns"


def test_one_attribute_past_a_types_columns_is_caught() -> None:
    free = SQL_VISIBILITY_COLUMNS[Kind.DATETIME] - sum(key.indexed_value_type is Kind.DATETIME for key in ALL_KEYS)
    extra = [SearchAttributeKey.for_datetime(f"ExtraDate{i}") for i in range(free + 1)]
    assert over_the_limits([*ALL_KEYS, *extra]) == {"DATETIME": "4 of 3"}


def test_the_limits_are_the_columns_of_the_visibility_schema_the_cluster_applies() -> None:
    schema = builds.TEMPORAL_SERVER.directory / builds.SCHEMA_SUBDIR / "visibility" / "schema.sql"
    if not schema.exists():
        pytest.skip(f"the cluster's schemas are not on this machine yet ({schema}): `make cluster` fetches them")
    text = schema.read_text()
    columns = {
        kind: len(set(re.findall(rf"^\s*({prefix}\d\d)\s", text, flags=re.MULTILINE)))
        for kind, prefix in _COLUMN_PREFIX.items()
    }
    assert columns == SQL_VISIBILITY_COLUMNS
