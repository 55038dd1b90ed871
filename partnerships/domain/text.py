"""Text people type, made safe to keep for years: normalised, visible, bounded.

Every name, reason, customer and note passes through these types at the door (charter
files and Updates alike), so the record never holds two spellings of one customer,
text that reads differently from what it stores (bidi overrides, zero-width
characters), or a character a database refuses (NUL).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints

# Control (Cc), format (Cf: zero-width and bidi controls), surrogate (Cs), private-use
# (Co) and unassigned (Cn) characters, and the Unicode line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_LAYOUT = frozenset("\n\t")


def _hidden(value: str, allowed: frozenset[str]) -> list[str]:
    return [c for c in value if c not in allowed and unicodedata.category(c) in _HIDDEN_CATEGORIES]


def _plain(value: Any, allowed: frozenset[str]) -> Any:
    if not isinstance(value, str):
        return value  # the type check that follows names the field
    value = unicodedata.normalize("NFKC", value).replace("\r\n", "\n")
    hidden = _hidden(value, allowed)
    if hidden:
        codes = ", ".join(dict.fromkeys(f"U+{ord(c):04X}" for c in hidden))
        raise ValueError(f"holds invisible or control characters ({codes}); type it as plain text")
    return value


def one_line(value: Any) -> Any:
    """NFKC-normalised, with no control, format or line-break character."""
    return _plain(value, frozenset())


def paragraphs(value: Any) -> Any:
    """NFKC-normalised; line breaks and tabs allowed, no other control or format character."""
    return _plain(value, _LAYOUT)


def same_text(a: str, b: str) -> bool:
    """Two spellings of one thing (a pilot customer, a name): equal after normalisation, ignoring case."""
    return unicodedata.normalize("NFKC", a).strip().casefold() == unicodedata.normalize("NFKC", b).strip().casefold()


def visible_length(value: str) -> int:
    """Characters a reader sees: surrounding whitespace and hidden characters do not count."""
    return sum(1 for c in value.strip() if unicodedata.category(c) not in _HIDDEN_CATEGORIES)


# The bounded text types the charter and the requests are made of.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), BeforeValidator(one_line)]
Line = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), BeforeValidator(one_line)
]
Paragraphs = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), BeforeValidator(paragraphs)
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000), BeforeValidator(paragraphs)]
Identity = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254), BeforeValidator(one_line)
]
