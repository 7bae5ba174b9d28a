"""``?fields=``, read as Garage (barbeque's API library) reads it.

- absent or blank: the default fields only;
- ``*``: every field, the opt-in ones too;
- a list: exactly the fields named; ``__default__`` in it stands for the default ones;
- ``name[sub,...]`` names ``name`` and selects, by the same rules, the fields of each of
  its items: pitmaster reads that for a list of resources (an execution's ``attempts``);
  for other values (the free-form ``message``) it names the whole value.

Names a resource does not have are left out of the answer, as Garage does. A list that
does not parse (``a,,b``, ``a[b``) is an error.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from pitmaster.errors import InvalidInput

DEFAULT = "__default__"
EVERYTHING = "*"
_TOKEN = re.compile(r"\s*(?:([\w.*]+)|(,)|(\[)|(\]))", re.ASCII)
_GROUP = "]"  # stands where a name would, after a closed group

Selection = Mapping[str, "Selection | None"]
"""The names a query selects, each with the selection inside its brackets (None: none)."""


class InvalidFields(InvalidInput):
    """``fields`` does not parse."""


def parse_tree(query: str) -> Selection:
    """The names in a Garage field query, nested as written; InvalidFields if it does not parse."""
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


def parse(query: str) -> frozenset[str]:
    """The top-level names in a Garage field query; InvalidFields if it does not parse."""
    return frozenset(parse_tree(query))


class _Parser:
    """The names seen so far, level by level, and where in the query the parser stands."""

    def __init__(self) -> None:
        self.level: dict[str, Selection | None] = {}
        # The levels around this one, each with the name whose group this one is.
        self.outer: list[tuple[dict[str, Selection | None], str]] = []
        self.current: str | None = None
        self.closed: str | None = None  # the name of the group just closed

    def name(self, name: str) -> None:
        self.current = name  # Garage, too, keeps the last of two names in a row

    def comma(self) -> None:
        if self.current is None:
            raise InvalidFields("invalid query in ?fields=: a name expected before ','")
        self._keep_current()
        self.current = None

    def opening(self) -> None:
        owner = self.closed if self.current == _GROUP else self.current
        if owner is None:
            raise InvalidFields("invalid query in ?fields=: '[' must follow a name")
        self._keep_current()
        inner = self.level.get(owner)
        group: dict[str, Selection | None] = dict(inner) if inner is not None else {}
        self.outer.append((self.level, owner))
        self.level = group
        self.current = None

    def closing(self) -> None:
        if not self.outer or self.current is None:
            raise InvalidFields("invalid query in ?fields=: ']' must close '[name'")
        self._keep_current()
        group = self.level
        self.level, owner = self.outer.pop()
        self.level[owner] = group
        self.closed = owner
        self.current = _GROUP

    def end(self) -> Selection:
        if self.outer or self.current is None:
            raise InvalidFields("invalid query in ?fields=: premature end of query")
        self._keep_current()
        return self.level

    def _keep_current(self) -> None:
        """Add the name just read to its level (a closed group is not a name)."""
        if self.current is not None and self.current != _GROUP:
            self.level.setdefault(self.current, None)


def _choose(
    named: Collection[str], default: Collection[str], optional: Collection[str]
) -> set[str]:
    if EVERYTHING in named:
        return {*default, *optional}
    chosen = {field for field in optional if field in named}
    if DEFAULT in named:
        return chosen | set(default)
    return chosen | {field for field in default if field in named}


def select(query: str | None, default: Collection[str], optional: Collection[str]) -> set[str]:
    """The fields to answer with: ``default`` ones are shown unless a list leaves them out,
    ``optional`` ones only when named (or with ``*``)."""
    if query is None or not query.strip():
        return set(default)
    return _choose(parse(query), default, optional)


def select_within(
    query: str | None, name: str, default: Collection[str], optional: Collection[str]
) -> set[str]:
    """The fields of each item of ``name`` to answer with, when ``name`` is answered.

    ``name[...]`` selects as ``select`` does; ``name`` alone, or ``*``, the default ones
    (an item's opt-in fields, such as an attempt's output, come only when named inside).
    """
    if query is None or not query.strip():
        return set(default)
    inner = parse_tree(query).get(name)
    if inner is None:
        return set(default)
    return _choose(frozenset(inner), default, optional)
