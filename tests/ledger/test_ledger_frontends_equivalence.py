"""The four forms of each shipped contract give one FSM, and that FSM compiles and runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ledger_kit import check_unauthorized, check_wrong_state

from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    ContractSpec,
    canonical_form,
    compiled_for,
    generate_solidity,
    load_contract,
    load_ontology,
    load_pnml,
    load_spec,
    load_text,
    parse_ontology,
    parse_pnml,
    parse_spec,
    spec_to_pnml,
    spec_to_turtle,
    spec_to_yaml,
    specs_dir,
)

FILES = {
    "ModelRegistry": "model_registry",
    "ModelLicence": "model_licence",
    "FederatedRoundAudit": "federated_round_audit",
}
LOADERS: dict[str, Callable[[str | Path], ContractSpec]] = {
    "txt": load_text,
    "pnml": load_pnml,
    "ttl": load_ontology,
}


def _normalised(spec: ContractSpec) -> ContractSpec:
    """The YAML spec with descriptions whitespace-normalised (YAML folding adds a newline)."""
    return ContractSpec.model_validate({**canonical_form(spec), "source": spec.source})


@pytest.mark.parametrize("form", sorted(LOADERS))
@pytest.mark.parametrize("name", sorted(FILES))
def test_every_form_gives_the_yaml_fsm(name: str, form: str) -> None:
    folder = specs_dir()
    reference = load_spec(folder / f"{FILES[name]}.yaml")
    derived = LOADERS[form](folder / f"{FILES[name]}.{form}")
    assert canonical_form(derived) == canonical_form(reference)
    # the same FSM means the same digest and byte-identical generated Solidity
    assert derived.digest() == _normalised(reference).digest()
    assert generate_solidity(derived) == generate_solidity(_normalised(reference))


@pytest.mark.parametrize("form", ["yaml", "txt", "pnml", "ttl"])
def test_load_contract_picks_the_form_by_suffix(form: str) -> None:
    spec = load_contract(specs_dir() / f"model_licence.{form}")
    assert spec.contract == "ModelLicence"


@pytest.mark.parametrize("name", sorted(FILES))
def test_writers_round_trip(name: str) -> None:
    spec = load_spec(specs_dir() / f"{FILES[name]}.yaml")
    expected = canonical_form(spec)
    assert canonical_form(parse_pnml(spec_to_pnml(spec))) == expected
    assert canonical_form(parse_ontology(spec_to_turtle(spec))) == expected
    assert canonical_form(parse_spec(spec_to_yaml(spec))) == expected


@pytest.mark.parametrize("name", sorted(FILES))
def test_shipped_pnml_and_turtle_are_the_writers_output(name: str) -> None:
    """The shipped files stay in sync with the YAML specs (regenerate them if this fails)."""
    folder = specs_dir()
    spec = load_spec(folder / f"{FILES[name]}.yaml")
    assert (folder / f"{FILES[name]}.pnml").read_text(encoding="utf-8") == spec_to_pnml(spec)
    assert (folder / f"{FILES[name]}.ttl").read_text(encoding="utf-8") == spec_to_turtle(spec)


def test_contract_from_controlled_english_compiles_and_passes_the_ledger_checks(
    chain: Chain, compiler: CompilerConfig
) -> None:
    """The ledger suite's own access and state checks hold for the contract from the text."""
    spec = load_text(specs_dir() / "model_licence.txt")
    compiled = compiled_for(spec, compiler)
    assert compiled.name == "ModelLicence"
    assert check_unauthorized(chain, spec, compiled) == []
    assert check_wrong_state(chain, spec, compiled) == []
