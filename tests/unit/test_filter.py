"""Filter parsing: scim2-models' grammar plus our bounded length and Entra's unquoted values."""

import contextlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scimgate.scim.errors import InvalidFilterError
from scimgate.scim.filter import (
    Comparison,
    LogicalExpr,
    ValuePath,
    parse_filter,
    parse_path,
    value_matches,
)
from scimgate.scim.schema import user_schema


def test_quoted_eq():
    node = parse_filter('userName eq "bjensen"')
    assert isinstance(node, Comparison)
    assert (node.attr_path.attr, node.op.value, node.value) == ("userName", "eq", "bjensen")


@pytest.mark.parametrize(
    "expression, value",
    [
        ("externalId eq jyoung", "jyoung"),
        (
            "externalId eq 2c5d3f0e-6a0b-4c8e-9d2a-1f7b3e9a4c11",
            "2c5d3f0e-6a0b-4c8e-9d2a-1f7b3e9a4c11",
        ),
        ("externalId EQ a@b.com", "a@b.com"),
    ],
)
def test_entra_unquoted_value_is_read_as_a_string(expression, value):
    """entra-provisioning.md §1.2: the doc's own example is `filter=externalId eq jyoung`."""
    node = parse_filter(expression)
    assert node.value == value


def test_unquoted_literals_keep_their_type():
    assert parse_filter("active eq true").value is True
    assert parse_filter("x eq 12").value == 12


def test_entra_manager_check():
    """§1.6: `id eq X and manager eq Y` with unquoted GUIDs."""
    node = parse_filter(
        "id eq 54D382A4-2050-4C03-94D1-E769F1D15682 and manager eq 2819c223-7f76-453a-919d-413861904646"
    )
    assert isinstance(node, LogicalExpr)
    assert [t.value for t in node.terms] == [
        "54D382A4-2050-4C03-94D1-E769F1D15682",
        "2819c223-7f76-453a-919d-413861904646",
    ]


def test_entra_value_path_comparison():
    node = parse_filter('emails[type eq "work"].value eq "a@b.c"')
    assert isinstance(node, ValuePath)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "userName eq",
        '(userName eq "a"',
        'userName zz "a"',
        "x" * 5000,
        '"a" eq userName',
    ],
)
def test_invalid_filters_raise_invalid_filter(bad):
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(bad)
    assert info.value.status == 400
    assert info.value.scim_type == "invalidFilter"


def test_value_matches_is_case_insensitive_unless_case_exact():
    emails = user_schema().attr("emails")
    node = parse_filter('emails[type eq "WORK"]')
    assert value_matches(node.val_filter, {"type": "work", "value": "x"}, emails)
    assert not value_matches(node.val_filter, {"type": "home", "value": "x"}, emails)


def test_paths():
    node = parse_path('members[value eq "abc"]')
    assert isinstance(node, ValuePath) and node.attr_path.attr == "members"
    node = parse_path('emails[type eq "work"].value')
    assert node.sub_attr == "value"


_names = st.sampled_from(
    ["userName", "displayName", "externalId", "title", "emails.value", "name.givenName", "active"]
)
_ops = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"])
_values = st.one_of(st.text(max_size=20), st.booleans(), st.integers(-1000, 1000))


@st.composite
def filters(draw, depth=0):
    kind = draw(st.integers(0, 4 if depth < 2 else 1))
    if kind == 0:
        return f"{draw(_names)} {draw(_ops)} {_render(draw(_values))}"
    if kind == 1:
        return f"{draw(_names)} pr"
    if kind == 2:
        return f"({draw(filters(depth + 1))}) {draw(st.sampled_from(['and', 'or']))} ({draw(filters(depth + 1))})"
    if kind == 3:
        return f"not ({draw(filters(depth + 1))})"
    return f'emails[type eq "work" and {draw(filters(depth + 1)).replace("emails.", "")}]'


def _render(value):
    import json

    return json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(filters())
def test_parser_round_trips(expression):
    """A parsed filter printed back means the same: printing the reparsed tree is a fixed point."""
    try:
        node = parse_filter(expression)
    except InvalidFilterError:
        return
    again = parse_filter(str(node))
    assert str(again) == str(node)
    assert parse_filter(str(again)) == again


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parser_never_raises_anything_but_invalid_filter(text):
    with contextlib.suppress(InvalidFilterError):
        parse_filter(text)


@settings(max_examples=300, deadline=None)
@given(
    attr=st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True),
    op=st.sampled_from(["eq", "EQ", "Eq"]),
    value=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\'),
        max_size=40,
    ),
    spaces=st.tuples(*[st.sampled_from(["", " ", "  "])] * 2, *[st.sampled_from([" ", "  "])] * 2),
)
@example(attr="not", op="eq", value="x", spaces=("", "", " ", " "))
def test_the_simple_eq_lookup_reads_as_the_grammar_does(attr, op, value, spaces):
    """`attr eq "text"` skips the grammar (filter.py's fast path): same tree or same refusal."""
    from scim2_models import InvalidFilterException, ScimFilter

    lead, trail, before, after = spaces
    expression = f'{lead}{attr}{before}{op}{after}"{value}"{trail}'
    try:
        expected = ScimFilter(expression).ast
    except InvalidFilterException:
        expected = None
    if expected is None:
        with pytest.raises(InvalidFilterError):
            parse_filter(expression)
    else:
        assert parse_filter(expression) == expected
