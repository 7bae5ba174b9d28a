"""Garage's ``?fields=`` grammar: top-level names, and the selection inside ``name[...]``."""

from __future__ import annotations

import pytest

from pitmaster.api import fields

DEFAULT = {"number", "status"}
OPTIONAL = {"stdout", "stderr"}


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("a,b", {"a": None, "b": None}),
        (
            "attempts[number,stdout],status",
            {"attempts": {"number": None, "stdout": None}, "status": None},
        ),
        ("a[b[c]],d", {"a": {"b": {"c": None}}, "d": None}),
        ("a , b [ c ]", {"a": None, "b": {"c": None}}),
    ],
)
def test_given_a_query_when_parsed_then_names_nest_as_written(
    query: str, tree: dict[str, object]
) -> None:
    assert fields.parse_tree(query) == tree
    assert fields.parse(query) == frozenset(tree)


@pytest.mark.parametrize("query", ["a,,b", "a[b", "]", ",a", "a[]", "[a]", "a[b]]"])
def test_given_a_query_that_does_not_parse_when_parsed_then_invalid(query: str) -> None:
    with pytest.raises(fields.InvalidFields):
        fields.parse_tree(query)


@pytest.mark.parametrize(
    ("query", "chosen"),
    [
        (None, DEFAULT),
        ("attempts", DEFAULT),
        ("*", DEFAULT),
        ("attempts[stdout]", {"stdout"}),
        ("attempts[__default__,stderr]", DEFAULT | {"stderr"}),
        ("attempts[*]", DEFAULT | OPTIONAL),
        ("attempts[number,nope]", {"number"}),
        ("status,attempts[status]", {"status"}),
    ],
)
def test_given_a_query_when_items_of_attempts_selected_then_by_the_same_rules(
    query: str | None, chosen: set[str]
) -> None:
    assert fields.select_within(query, "attempts", DEFAULT, OPTIONAL) == chosen
