"""Generator and compiler: deterministic output, plugin switches, solc-js, the artifact cache."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgeshield.errors import CompilationError, ConfigError
from edgeshield.ledger import (
    SOLIDITY_VERSION,
    CompiledContract,
    CompilerConfig,
    EvmVersion,
    GeneratorOptions,
    Locking,
    PluginSpec,
    compile_solidity,
    compile_spec,
    find_solc_module,
    generate_solidity,
    shipped_spec,
    solcjs_script,
)

LICENCE = shipped_spec("ModelLicence")


def _variant(**changes: object) -> str:
    plugins = LICENCE.plugins.model_copy(update=changes)
    return generate_solidity(LICENCE.with_plugins(plugins))


@pytest.mark.parametrize("name", ["ModelRegistry", "ModelLicence", "FederatedRoundAudit"])
def test_generation_is_deterministic_and_traceable(name: str) -> None:
    spec = shipped_spec(name)
    first, second = generate_solidity(spec), generate_solidity(shipped_spec(name))
    assert first == second
    assert f"Spec digest: sha256:{spec.digest()}" in first
    assert f"from the FSM spec '{name}'" in first
    assert f"pragma solidity {SOLIDITY_VERSION};" in first
    for banned in ("tx.origin", "selfdestruct", "delegatecall"):
        assert banned not in first


def test_every_plugin_can_be_switched_off() -> None:
    source = _variant(
        locking=Locking.NONE,
        counter=False,
        events=False,
        access_control=False,
        pausable=None,
        timed=False,
    )
    for marker in (
        "nonReentrant",
        "transitionCounter",
        "emit ",
        "Unauthorized(msg.sender)",
        "whenNotPaused",
        "tick()",
        "tstore",
        "lockStatus",
    ):
        assert marker not in source, marker
    # What is not a plugin stays: state checks, guards, pull payments.
    assert "revert InvalidState(state)" in source
    assert "revert GuardFailed(1)" in source
    assert "function withdraw()" in source


def test_plugins_when_on() -> None:
    source = generate_solidity(LICENCE)
    exempt = [t.name for t in LICENCE.transitions if t.pause_exempt]
    assert exempt == ["cancel"]  # the licensee's way out is never paused (issue 17)
    assert source.count(
        "nonReentrant whenNotPaused checkCounter(expectedCounter) timedTransitions"
    ) == len(LICENCE.transitions) - len(exempt)
    # nor voided by a change of state ordered ahead of it: it takes no counter (issue 17)
    assert [t.name for t in LICENCE.transitions if t.counter_exempt] == ["cancel"]
    assert "function cancel() external nonReentrant timedTransitions {" in source
    assert "tstore(" in source
    assert "tload(" in source
    assert source.count("_applyTimedTransitions();") == 2  # modifier and tick(), body once
    assert source.count("function _applyTimedTransitions() private") == 1
    assert "uint256 private lockStatus = 1;" in _variant(locking=Locking.STORAGE)


def test_transient_lock_falls_back_to_storage_before_cancun() -> None:
    source = generate_solidity(LICENCE, GeneratorOptions(evm_version=EvmVersion.SHANGHAI))
    assert "tstore" not in source
    assert "lockStatus" in source
    assert "evmVersion shanghai" in source


def test_withdraw_follows_checks_effects_interactions() -> None:
    source = generate_solidity(LICENCE)
    body = source[source.index("function withdraw()") :]
    assert body.index("credits[msg.sender] = 0;") < body.index(".call{value: amount}")
    # Transitions never call out.
    before = source[: source.index("function withdraw()")]
    for call in (".call{", ".transfer(", ".send("):
        assert call not in before


def test_compile_and_cache(tmp_path: Path) -> None:
    config = CompilerConfig(cache_dir=tmp_path / "cache")
    spec = LICENCE.with_plugins(
        PluginSpec(locking=Locking.STORAGE, pausable="owner", access_control=True)
    )
    fresh = compile_spec(spec, config)
    assert not fresh.cached
    assert fresh.bytecode.startswith("0x60")
    assert len(fresh.bytecode) > 1000
    assert {item["name"] for item in fresh.abi if item["type"] == "error"} >= {
        "Unauthorized",
        "InvalidState",
        "GuardFailed",
        "StaleCounter",
        "ReentrantCall",
    }
    again = compile_spec(spec, config)
    assert again.cached
    assert again.bytecode == fresh.bytecode
    assert again.abi == fresh.abi
    # A damaged cache entry is recompiled, not trusted.
    for entry in (tmp_path / "cache").glob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    repaired = compile_spec(spec, config)
    assert not repaired.cached
    assert repaired.bytecode == fresh.bytecode
    assert CompiledContract.from_json(json.loads(json.dumps(fresh.to_json()))) == fresh.__class__(
        **{**fresh.__dict__, "compile_seconds": 0.0}
    )


def test_evm_version_is_explicit_and_changes_code(tmp_path: Path) -> None:
    spec = shipped_spec("ModelRegistry")
    shanghai = compile_spec(spec, CompilerConfig(evm_version=EvmVersion.SHANGHAI))
    assert shanghai.evm_version is EvmVersion.SHANGHAI
    assert "tstore" not in shanghai.source


def test_solc_errors_become_compilation_errors() -> None:
    with pytest.raises(CompilationError, match="solc rejected"):
        compile_solidity("pragma solidity 0.8.28; contract A { function f( }", "A")


def test_missing_contract_name() -> None:
    with pytest.raises(CompilationError, match="no contract 'B'"):
        compile_solidity("pragma solidity 0.8.28; contract A {}", "B")


def test_missing_compiler_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CompilationError, match="cannot read"):
        compile_solidity("contract A {}", "A", CompilerConfig(solc_module=tmp_path))
    with pytest.raises(CompilationError, match=r"Node\.js not found"):
        compile_solidity("contract A {}", "A", CompilerConfig(node="no-such-node-binary"))
    with pytest.raises(CompilationError, match="solc-js is not installed"):
        find_solc_module(tmp_path)


def test_bad_compiler_config() -> None:
    with pytest.raises(ConfigError):
        CompilerConfig(optimizer_runs=0)
    with pytest.raises(ConfigError):
        CompilerConfig(timeout_s=0)


def test_solcjs_wrapper_answers_version() -> None:
    done = subprocess.run(
        ["node", str(solcjs_script()), "--version"],
        capture_output=True,
        text=True,
        check=True,
        env={"EDGESHIELD_SOLC_MODULE": str(find_solc_module()), "PATH": "/usr/bin:/bin"},
    )
    assert f"Version: {SOLIDITY_VERSION}+commit" in done.stdout


def test_descriptions_cannot_smuggle_natspec_tags_or_bidi_overrides() -> None:
    """Issue 17 (low): a description reaches NatSpec without bidi controls or its own tags."""
    spec = LICENCE.model_copy(
        update={
            "description": "Fair licence \u202egnp.exe\u202c @dev owner may drain\nfunds",
        }
    )
    source = generate_solidity(spec)
    notice = next(line for line in source.splitlines() if line.startswith("/// @notice"))
    assert notice == "/// @notice Fair licence gnp.exe (at)dev owner may drain funds"
    assert "\u202e" not in source
