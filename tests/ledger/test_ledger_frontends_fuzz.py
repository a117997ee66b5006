"""Fuzzing the front-end parsers: any input gives a spec or one SpecError, never a crash."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeshield.errors import SpecError
from edgeshield.ledger import (
    ContractSpec,
    parse_ontology,
    parse_pnml,
    parse_property,
    parse_text,
    specs_dir,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _source(suffix: str) -> str:
    return (specs_dir() / f"model_licence.{suffix}").read_text(encoding="utf-8")


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few characters deleted, replaced or inserted at random places."""
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "replace", "insert"]))
        char = draw(st.sampled_from(list(" .,;:`\"'<>/()[]=#\nAaz0_")))
        if kind == "delete":
            text = text[:position] + text[position + 1 :]
        elif kind == "replace":
            text = text[:position] + char + text[position + 1 :]
        else:
            text = text[:position] + char + text[position:]
    return text


def _spec_or_spec_error(parse: object, text: str) -> None:
    try:
        result = parse(text)  # type: ignore[operator]
    except SpecError as exc:
        message = str(exc)
        assert message
    else:
        assert isinstance(result, ContractSpec)


@SETTINGS
@given(text=mutated(_source("txt")))
def test_controlled_english_mutations(text: str) -> None:
    _spec_or_spec_error(parse_text, text)


@SETTINGS
@given(text=mutated(_source("pnml")))
def test_pnml_mutations(text: str) -> None:
    _spec_or_spec_error(parse_pnml, text)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated(_source("ttl")))
def test_turtle_mutations(text: str) -> None:
    _spec_or_spec_error(parse_ontology, text)


@SETTINGS
@given(text=st.text(max_size=60))
def test_arbitrary_text(text: str) -> None:
    _spec_or_spec_error(parse_text, text)
    _spec_or_spec_error(parse_pnml, text)


@SETTINGS
@given(text=st.text(alphabet="abc ,ifcannothappenaftereventuallywillonly", max_size=50))
def test_property_sentences(text: str) -> None:
    with contextlib.suppress(SpecError):
        parse_property(text)


@pytest.mark.parametrize("suffix", ["txt", "pnml"])
def test_unmutated_sources_parse(suffix: str) -> None:
    _spec_or_spec_error({"txt": parse_text, "pnml": parse_pnml}[suffix], _source(suffix))
