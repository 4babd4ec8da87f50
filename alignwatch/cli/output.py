"""Printing text that producers control (quarantined messages, their headers and reasons).

Such text is shown literally: never interpreted as rich markup (``[/]``, ``[link=...]``),
and with every control or invisible formatting character escaped (``\\x1b`` is shown as the
four characters ``\\x1b``, not sent to the terminal), so that a message cannot move the
cursor, recolour the screen, hide itself behind a bidirectional override or split one
field over several lines.
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["literal", "printable"]

#: escapes Python also uses for these characters
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Unicode categories escaped: controls, formatting (bidi overrides, zero-width), surrogates,
#: private use, unassigned; and the line and paragraph separators
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object) -> str:
    """``str(value)`` with every control or invisible formatting character escaped.

    Printable text, spaces and backslashes are kept as they are.
    """
    text = "" if value is None else str(value)
    if text.isprintable():  # the common case, fast: no control, format or separator character
        return text
    return "".join(
        _escape(char) if char != " " and unicodedata.category(char) in _ESCAPED_CATEGORIES else char for char in text
    )


def literal(value: object) -> Any:
    """A rich ``Text`` of :func:`printable` ``value``: shown as written, never read as markup."""
    from rich.text import Text

    return Text(printable(value))
