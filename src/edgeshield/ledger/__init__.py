"""Contracts generated from finite-state-machine specs, compiled and run on an EVM.

A YAML spec (:func:`load_spec`) becomes a secure Solidity 0.8 contract
(:func:`generate_solidity`, FSolidM-style plugins), compiled with solc-js
(:func:`compile_spec`) and deployed through web3 on the embedded py-evm chain or any JSON-RPC
node (:class:`Chain`). The three shipped contracts have typed clients.
"""

from __future__ import annotations

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
    load_spec,
    parse_spec,
)

__all__ = [
    "SOLIDITY_VERSION",
    "Chain",
    "CompiledContract",
    "CompilerConfig",
    "ContractSpec",
    "DeployedContract",
    "EventRecord",
    "EvmVersion",
    "FederatedRoundAuditClient",
    "GeneratorOptions",
    "Locking",
    "ModelLicenceClient",
    "ModelRegistryClient",
    "Outcome",
    "PluginSpec",
    "ReferenceModel",
    "RoleInit",
    "RoleKind",
    "RoleSpec",
    "SpecContract",
    "TimedSpec",
    "TransitionSpec",
    "TxResult",
    "VariableSpec",
    "compile_solidity",
    "compile_spec",
    "compiled_for",
    "decode_revert",
    "default_cache_dir",
    "error_selector",
    "find_solc_module",
    "generate_solidity",
    "load_spec",
    "parse_spec",
    "shipped_spec",
    "solcjs_script",
    "specs_dir",
]
