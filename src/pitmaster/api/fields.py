"""``?fields=``, read as Garage (barbeque's API library) reads it.

- absent or blank: the default fields only;
- ``*``: every field, the opt-in ones too;
- a list: exactly the fields named; ``__default__`` in it stands for the default ones;
- ``name[sub,...]`` names ``name`` (pitmaster has no nested selection: the whole value).

Names a resource does not have are left out of the answer, as Garage does. A list that
does not parse (``a,,b``, ``a[b``) is an error.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from pitmaster.errors import InvalidInput

DEFAULT = "__default__"
EVERYTHING = "*"
_TOKEN = re.compile(r"\s*(?:([\w.*]+)|(,)|(\[)|(\]))", re.ASCII)
_GROUP = "]"  # stands where a name would, after a closed group


class InvalidFields(InvalidInput):
    """``fields`` does not parse."""


def parse(query: str) -> frozenset[str]:
    """The top-level names in a Garage field query; InvalidFields if it does not parse."""
    names: set[str] = set()
    depth = 0
    current: str | None = None
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            if query[position:].strip():
                raise InvalidFields(f"invalid query in ?fields= at {query[position:]!r}")
            break
        position = match.end()
        name, comma, opening, closing = match.groups()
        if name is not None:
            current = name  # Garage, too, keeps the last of two names in a row
        elif comma is not None:
            if current is None:
                raise InvalidFields("invalid query in ?fields=: a name expected before ','")
            if depth == 0 and current != _GROUP:
                names.add(current)
            current = None
        elif opening is not None:
            if current is None:
                raise InvalidFields("invalid query in ?fields=: '[' must follow a name")
            if depth == 0 and current != _GROUP:
                names.add(current)
            depth += 1
            current = None
        elif closing is not None:
            if depth == 0 or current is None:
                raise InvalidFields("invalid query in ?fields=: ']' must close '[name'")
            depth -= 1
            current = _GROUP
    if depth != 0 or current is None:
        raise InvalidFields("invalid query in ?fields=: premature end of query")
    if current != _GROUP:
        names.add(current)
    return frozenset(names)


def select(query: str | None, default: Collection[str], optional: Collection[str]) -> set[str]:
    """The fields to answer with: ``default`` ones are shown unless a list leaves them out,
    ``optional`` ones only when named (or with ``*``)."""
    if query is None or not query.strip():
        return set(default)
    named = parse(query)
    if EVERYTHING in named:
        return {*default, *optional}
    chosen = {field for field in optional if field in named}
    if DEFAULT in named:
        return chosen | set(default)
    return chosen | {field for field in default if field in named}
