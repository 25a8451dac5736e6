"""Mapping sources and coercion: pure functions, checked on their own and with random input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scimgate.mapping.expression import MappingPathError, evaluate, parse_source, split_alternatives
from scimgate.mapping.mapper import Mapper, PropertyDef
from scimgate.mapping.types import (
    check_options,
    to_boolean,
    to_date,
    to_email,
    to_number,
    to_option,
    to_text,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ACME = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"

DOC = {
    "userName": "jdoe@example.com",
    "displayName": "Jo Doe",
    "title": "Engineer",
    "name": {"givenName": "Jo", "familyName": "Doe"},
    "emails": [
        {"type": "home", "value": "jo@home.example"},
        {"type": "work", "value": "jo.doe@example.com", "primary": True},
    ],
    "addresses": [{"type": "work", "locality": "Paris", "country": "FR"}],
    ENTERPRISE: {"department": "R&D", "employeeNumber": "0042", "manager": {"value": "mgr-id"}},
    ACME: {"costCenter": "1234", "remote": "False"},
}


def value(source: str, convert=to_text):
    return evaluate(parse_source(source), DOC, convert)[0]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("title", "Engineer"),
        ("name.givenName", "Jo"),
        ('emails[type eq "work"].value', "jo.doe@example.com"),
        ("emails.value", "jo.doe@example.com"),  # no filter: the primary element
        ('addresses[type eq "work"].locality', "Paris"),
        (f"{ENTERPRISE}:department", "R&D"),
        (f"{ENTERPRISE}:manager", "mgr-id"),
        (f"{ENTERPRISE}:manager.value", "mgr-id"),
        (f"{ACME}:costCenter", "1234"),
        ("TITLE", "Engineer"),  # attribute names are case-insensitive
        ("nickName || displayName", "Jo Doe"),
        ('emails[type eq "other"].value || userName', "jdoe@example.com"),
    ],
)
def test_paths_read_stored_documents(source, expected):
    assert value(source) == expected


def test_alternatives_skip_values_that_do_not_convert():
    doc = {"userName": "jdoe", "emails": [{"type": "work", "value": "j@example.com"}]}
    paths = parse_source('userName || emails[type eq "work"].value')
    assert evaluate(paths, doc, to_email) == ("j@example.com", 'emails[type eq "work"].value', None)


def test_a_value_that_never_converts_is_an_error_not_a_value():
    got, origin, error = evaluate(parse_source("title"), DOC, to_number)
    assert got is None and origin is None
    assert "Engineer" in error


def test_absent_is_neither_value_nor_error():
    assert evaluate(parse_source("nickName"), DOC, to_text) == (None, None, None)


@pytest.mark.parametrize(
    "source",
    [
        "",
        "   ",
        "nope",
        "title.sub",
        'name[type eq "x"]',
        "emails[type eq",
        "password",
        "a || || b",
        " || ".join(["title"] * 6),
        f"{ENTERPRISE}:noSuchThing",
    ],
)
def test_bad_sources_are_refused_with_a_reason(source):
    with pytest.raises(MappingPathError):
        parse_source(source)


def test_split_respects_quoted_literals():
    assert split_alternatives('emails[value eq "a||b"].value || userName') == [
        'emails[value eq "a||b"].value',
        "userName",
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_cleanly(text):
    try:
        paths = parse_source(text)
    except MappingPathError:
        return
    for path in paths:
        path.read(DOC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(42, 42), ("42", 42), ("1,234", 1234), ("3.5", 3.5), (2.0, 2), ("-7", -7)],
)
def test_numbers(raw, expected):
    assert to_number(raw) == expected


@pytest.mark.parametrize("raw", ["abc", True, "", "nan", "inf", {"a": 1}, [1]])
def test_not_numbers(raw):
    with pytest.raises(ValueError):
        to_number(raw)


def test_dates_booleans_options_text():
    assert to_date("2024-05-01") == "2024-05-01"
    assert to_date("2024-05-01T10:00:00Z") == "2024-05-01"
    with pytest.raises(ValueError):
        to_date("01/05/2024")
    assert to_boolean("False") is False and to_boolean("TRUE") is True and to_boolean(1) is True
    with pytest.raises(ValueError):
        to_boolean("maybe")
    assert to_option("senior", ["Junior", "Senior"]) == "Senior"
    with pytest.raises(ValueError, match="not one of"):
        to_option("Lead", ["Junior", "Senior"])
    assert to_text(True) == "true" and to_text({"value": "x"}) == "x"
    with pytest.raises(ValueError):
        to_text({"a": 1})
    with pytest.raises(ValueError):
        to_email("not-an-email")


def test_select_options_are_checked():
    assert check_options("select", [" A ", "B"]) == ["A", "B"]
    for kind, options in [
        ("select", []),
        ("select", ["a", "A"]),
        ("text", ["a"]),
        ("select", [""]),
    ]:
        with pytest.raises(ValueError):
            check_options(kind, options)


def test_mapper_fills_fields_values_and_reports_errors():
    props = {
        "p1": PropertyDef("p1", "Department", "text"),
        "p2": PropertyDef("p2", "Cost center", "number"),
        "p3": PropertyDef("p3", "Manager", "member"),
        "p4": PropertyDef("p4", "Level", "select", ("Junior", "Senior")),
    }
    mapper = Mapper(
        [
            ("name", "displayName"),
            ("email", 'emails[type eq "work"].value'),
            ("property:p1", f"{ENTERPRISE}:department"),
            ("property:p2", f"{ACME}:costCenter"),
            ("property:p3", f"{ENTERPRISE}:manager"),
            ("property:p4", "title"),
            ("property:gone", "title"),  # a mapping whose Property was deleted is skipped
        ],
        props,
    )
    out = mapper.apply(DOC)
    assert out.fields == {"name": "Jo Doe", "email": "jo.doe@example.com"}
    assert out.values == {"p1": "R&D", "p2": 1234, "p3": "mgr-id"}
    assert "Level" in out.errors and "Engineer" in out.errors["Level"]
    assert mapper.reference_ids == {"p3"}
