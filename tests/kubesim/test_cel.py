"""The CEL libraries kubesim evaluates CRD validation rules with, beyond test_schema.py's
table: the Kubernetes format library and methods two libraries share."""

from __future__ import annotations

import pytest

from kubesim.cel import CelError, compile_program


def evaluate(expression: str):
    return compile_program(expression).evaluate({})


@pytest.mark.parametrize(("expression", "expected"), [
    ("format.dns1123Label().validate('my-name').hasValue()", False),
    ("format.dns1123Label().validate('My_Name').hasValue()", True),
    ("format.named('dns1123Subdomain').value().validate('example.com').hasValue()", False),
    ("format.named('no-such-format').hasValue()", False),
    ("format.dns1123LabelPrefix().validate('my-prefix-').hasValue()", False),
    ("format.dns1123Label().validate('my-prefix-').hasValue()", True),
    ("format.qualifiedName().validate('example.com/Name').hasValue()", False),
    ("format.labelValue().validate('a b').hasValue()", True),
    ("format.uri().validate('https://example.com/x').hasValue()", False),
    ("format.uri().validate('relative/path').value()",
     ['parse "relative/path": invalid URI for request']),
    ("format.uuid().validate('123e4567-e89b-12d3-a456-426614174000').hasValue()", False),
    ("format.uuid().validate('nope').value()", ["does not match the UUID format"]),
    ("format.byte().validate('aGVsbG8=').hasValue()", False),
    ("format.byte().validate('***').value()", ["invalid base64"]),
    ("format.date().validate('2021-02-30').value()", ["invalid date"]),
    ("format.datetime().validate('2021-01-01T00:00:00Z').hasValue()", False),
    ("format.datetime().validate('yesterday').value()", ["invalid datetime"]),
    ("type(format.uri()) == type(format.uuid())", True),
])
def test_the_kubernetes_format_library(expression, expected):
    """apiserver (v0.36.3) pkg/cel/library/format.go: ``format.named(name)`` is an optional
    Format, ``format.<name>()`` a Format, ``<Format>.validate(s)`` optional.none() for a valid
    string, else the list of problems (``formatValidate``); the checks are ConstantFormats'
    (apimachinery name validation, prefixes with ``maskTrailingDash``; strfmt's uuid, byte,
    date, datetime with its fixed messages; uri through url.ParseRequestURI)."""
    assert evaluate(expression) == expected


def test_a_format_names_its_problems_as_the_name_validators_do():
    problems = evaluate("format.dns1123Label().validate('Bad_Name').value()")
    assert problems == [
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]


@pytest.mark.parametrize(("expression", "expected"), [
    ("'banana'.indexOf('an')", 1),
    ("'banana'.indexOf('an', 2)", 3),
    ("['b', 'a', 'n', 'a'].indexOf('a')", 1),
    ("['b', 'a', 'n', 'a'].lastIndexOf('a')", 3),
    ("'banana'.lastIndexOf('an')", 3),
])
def test_index_of_is_the_strings_extension_on_strings_and_the_lists_library_on_lists(
        expression, expected):
    """cel-go ext strings ``indexOf(string[, int])`` and apiserver pkg/cel/library/lists.go
    ``indexOf(T)``: one name, chosen by the receiver's type."""
    assert evaluate(expression) == expected


def test_a_list_index_of_takes_no_offset():
    with pytest.raises(CelError):
        evaluate("['a'].indexOf('a', 0)")
