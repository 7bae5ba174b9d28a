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
    parser = _Parser()
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            if query[position:].strip():
                raise InvalidFields(f"invalid query in ?fields= at {query[position:]!r}")
            break
        position = match.end()
        name, comma, opening, _closing = match.groups()
        if name is not None:
            parser.name(name)
        elif comma is not None:
            parser.comma()
        elif opening is not None:
            parser.opening()
        else:
            parser.closing()
    return parser.end()


class _Parser:
    """The names seen so far at the top level, and where in the query the parser stands."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.depth = 0
        self.current: str | None = None

    def name(self, name: str) -> None:
        self.current = name  # Garage, too, keeps the last of two names in a row

    def comma(self) -> None:
        if self.current is None:
            raise InvalidFields("invalid query in ?fields=: a name expected before ','")
        self._keep_current()
        self.current = None

    def opening(self) -> None:
        if self.current is None:
            raise InvalidFields("invalid query in ?fields=: '[' must follow a name")
        self._keep_current()
        self.depth += 1
        self.current = None

    def closing(self) -> None:
        if self.depth == 0 or self.current is None:
            raise InvalidFields("invalid query in ?fields=: ']' must close '[name'")
        self.depth -= 1
        self.current = _GROUP

    def end(self) -> frozenset[str]:
        if self.depth != 0 or self.current is None:
            raise InvalidFields("invalid query in ?fields=: premature end of query")
        self._keep_current()
        return frozenset(self.names)

    def _keep_current(self) -> None:
        """Add the name just read if it is top-level (a closed group is not a name)."""
        if self.depth == 0 and self.current is not None and self.current != _GROUP:
            self.names.add(self.current)


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
