"""Contracts generated from finite-state-machine specs, compiled and run on an EVM.

A YAML spec (:func:`load_spec`) becomes a secure Solidity 0.8 contract
(:func:`generate_solidity`, FSolidM-style plugins), compiled with solc-js
(:func:`compile_spec`) and deployed through web3 on the embedded py-evm chain or any JSON-RPC
node (:class:`Chain`). The three shipped contracts have typed clients.
"""

from __future__ import annotations

from edgeshield.ledger._analysis import Finding, analyse_sources, slither_available
from edgeshield.ledger._chain import Chain, DeployedContract, EventRecord, TxResult, decode_revert
from edgeshield.ledger._clients import (
    FederatedRoundAuditClient,
    ModelLicenceClient,
    ModelRegistryClient,
)
from edgeshield.ledger._compiler import (
    CompiledContract,
    CompilerConfig,
    compile_solidity,
    compile_spec,
    default_cache_dir,
    find_solc_module,
    solcjs_script,
)
from edgeshield.ledger._contract import SpecContract, compiled_for, shipped_spec, specs_dir
from edgeshield.ledger._generator import (
    SOLIDITY_VERSION,
    EvmVersion,
    GeneratorOptions,
    error_selector,
    generate_solidity,
)
from edgeshield.ledger._model import Outcome, ReferenceModel
from edgeshield.ledger._parse import load_spec, parse_spec, read_source
from edgeshield.ledger._properties import (
    TICK,
    ExplorationBounds,
    Property,
    PropertyKind,
    StateGraph,
    Step,
    Verdict,
    check_properties,
    explore,
    parse_property,
)
from edgeshield.ledger._smt import (
    SmtConfig,
    SmtOutcome,
    SmtVerdict,
    find_z3,
    smt_harness,
    verify_smt,
)
from edgeshield.ledger._spec import (
    ContractSpec,
    Locking,
    PluginSpec,
    RoleInit,
    RoleKind,
    RoleSpec,
    TimedSpec,
    TransitionSpec,
    VariableSpec,
)
from edgeshield.ledger.frontends import (
    canonical_form,
    load_contract,
    load_ontology,
    load_pnml,
    load_text,
    parse_ontology,
    parse_pnml,
    parse_text,
    spec_to_pnml,
    spec_to_text,
    spec_to_turtle,
    spec_to_yaml,
)

__all__ = [
    "SOLIDITY_VERSION",
    "TICK",
    "Chain",
    "CompiledContract",
    "CompilerConfig",
    "ContractSpec",
    "DeployedContract",
    "EventRecord",
    "EvmVersion",
    "ExplorationBounds",
    "FederatedRoundAuditClient",
    "Finding",
    "GeneratorOptions",
    "Locking",
    "ModelLicenceClient",
    "ModelRegistryClient",
    "Outcome",
    "PluginSpec",
    "Property",
    "PropertyKind",
    "ReferenceModel",
    "RoleInit",
    "RoleKind",
    "RoleSpec",
    "SmtConfig",
    "SmtOutcome",
    "SmtVerdict",
    "SpecContract",
    "StateGraph",
    "Step",
    "TimedSpec",
    "TransitionSpec",
    "TxResult",
    "VariableSpec",
    "Verdict",
    "analyse_sources",
    "canonical_form",
    "check_properties",
    "compile_solidity",
    "compile_spec",
    "compiled_for",
    "decode_revert",
    "default_cache_dir",
    "error_selector",
    "explore",
    "find_solc_module",
    "find_z3",
    "generate_solidity",
    "load_contract",
    "load_ontology",
    "load_pnml",
    "load_spec",
    "load_text",
    "parse_ontology",
    "parse_pnml",
    "parse_property",
    "parse_spec",
    "parse_text",
    "read_source",
    "shipped_spec",
    "slither_available",
    "smt_harness",
    "solcjs_script",
    "spec_to_pnml",
    "spec_to_text",
    "spec_to_turtle",
    "spec_to_yaml",
    "specs_dir",
    "verify_smt",
]
