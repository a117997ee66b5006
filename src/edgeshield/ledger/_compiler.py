"""Compile generated Solidity with solc-js (the pinned npm ``solc`` package) via standard JSON.

Why: the compiler is installed by the project's own setup (``npm ci`` from the lock file), so
no binary is downloaded at run time; it is driven through solc's standard-JSON interface with
``evmVersion`` always explicit, and artifacts are cached under the digest of everything that
determines them (source, settings, compiler version).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeshield.errors import CompilationError, ConfigError
from edgeshield.ledger._generator import EvmVersion, GeneratorOptions, generate_solidity
from edgeshield.ledger._spec import ContractSpec

__all__ = [
    "CompiledContract",
    "CompilerConfig",
    "compile_solidity",
    "compile_spec",
    "default_cache_dir",
    "find_solc_module",
    "solcjs_script",
]

_SCRIPT = Path(__file__).with_name("solcjs.js")
_FILE = "Contract.sol"


def solcjs_script() -> Path:
    """The solc-compatible command (``--version`` / ``--standard-json``) shipped with us."""
    return _SCRIPT


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/edgeshield/solc`` (``~/.cache/edgeshield/solc`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeshield" / "solc"


def find_solc_module(start: Path | None = None) -> Path:
    """Locate ``node_modules/solc`` upwards from ``start`` (default: the cwd, then this file).

    Raises
    ------
    CompilationError
        If solc-js is not installed (run ``make setup``, which runs ``npm ci``).
    """
    roots = [start] if start is not None else [Path.cwd(), Path(__file__).resolve().parent]
    for root in roots:
        for folder in (root.resolve(), *root.resolve().parents):
            candidate = folder / "node_modules" / "solc"
            if (candidate / "package.json").is_file():
                return candidate
    raise CompilationError(
        "solc-js is not installed (no node_modules/solc found): run `make setup` "
        "(it runs `npm ci` from package-lock.json)"
    )


@dataclass(frozen=True, kw_only=True)
class CompilerConfig:
    """Where the compiler is, how to optimise, and where to cache artifacts.

    ``cache_dir=None`` disables the disk cache; pass :func:`default_cache_dir` to use the
    user cache, or a temporary directory in tests.
    """

    evm_version: EvmVersion = EvmVersion.PRAGUE
    optimizer_runs: int | None = 200
    node: str = "node"
    solc_module: Path | None = None
    cache_dir: Path | None = None
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if self.optimizer_runs is not None and self.optimizer_runs < 1:
            raise ConfigError("optimizer_runs must be at least 1 (or None to disable)")
        if self.timeout_s <= 0:
            raise ConfigError("timeout_s must be positive")


@dataclass(frozen=True, kw_only=True)
class CompiledContract:
    """One compiled contract: ABI, creation bytecode and where it came from."""

    name: str
    abi: list[dict[str, Any]] = field(repr=False)
    bytecode: str = field(repr=False)
    deployed_bytecode: str = field(repr=False)
    source: str = field(repr=False)
    source_digest: str
    solc_version: str
    evm_version: EvmVersion
    compile_seconds: float = 0.0
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable artifact (what the cache and ``ledger compile`` write)."""
        return {
            "name": self.name,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
            "source": self.source,
            "sourceDigest": self.source_digest,
            "solcVersion": self.solc_version,
            "evmVersion": self.evm_version.value,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, cached: bool = False) -> CompiledContract:
        """Inverse of :meth:`to_json`."""
        try:
            return cls(
                name=str(data["name"]),
                abi=list(data["abi"]),
                bytecode=str(data["bytecode"]),
                deployed_bytecode=str(data["deployedBytecode"]),
                source=str(data["source"]),
                source_digest=str(data["sourceDigest"]),
                solc_version=str(data["solcVersion"]),
                evm_version=EvmVersion(data["evmVersion"]),
                cached=cached,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CompilationError(f"not a compiled-contract artifact: {exc}") from exc


def _solc_version(module: Path) -> str:
    try:
        meta = json.loads((module / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompilationError(f"cannot read {module / 'package.json'}: {exc}") from exc
    return str(meta.get("version", "unknown"))


def _settings(config: CompilerConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "evmVersion": config.evm_version.value,
        "outputSelection": {
            "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
        },
    }
    if config.optimizer_runs is not None:
        settings["optimizer"] = {"enabled": True, "runs": config.optimizer_runs}
    return settings


def _run_solc(
    config: CompilerConfig,
    module: Path,
    payload: str,
    extra_env: dict[str, str] | None = None,
    stderr_lines: list[str] | None = None,
) -> dict[str, Any]:
    node = shutil.which(config.node)
    if node is None:
        raise CompilationError(f"Node.js not found ({config.node!r}); install Node 20 or newer")
    env = {**os.environ, "EDGESHIELD_SOLC_MODULE": str(module), **(extra_env or {})}
    try:
        done = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            [node, str(_SCRIPT), "--standard-json"],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            timeout=config.timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CompilationError(f"solc-js timed out after {config.timeout_s:g} s") from exc
    if done.returncode != 0:
        raise CompilationError(f"solc-js failed: {done.stderr.strip()[-2000:]}")
    if stderr_lines is not None:
        stderr_lines.extend(done.stderr.splitlines())
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except ValueError as exc:
        raise CompilationError(f"solc-js returned invalid JSON: {done.stdout[:200]!r}") from exc
    return result


def compile_solidity(
    source: str, name: str, config: CompilerConfig | None = None
) -> CompiledContract:
    """Compile ``source`` and return contract ``name`` (cached by source+settings digest).

    Raises
    ------
    CompilationError
        With solc's formatted messages, if the source does not compile.
    """
    config = config or CompilerConfig()
    module = (config.solc_module or find_solc_module()).resolve()
    version = _solc_version(module)
    settings = _settings(config)
    payload = json.dumps(
        {
            "language": "Solidity",
            "sources": {_FILE: {"content": source}},
            "settings": settings,
        },
        sort_keys=True,
    )
    source_digest = hashlib.sha256(source.encode()).hexdigest()
    key = hashlib.sha256(f"{version}\n{payload}".encode()).hexdigest()
    cache_file = None if config.cache_dir is None else config.cache_dir / f"{name}-{key}.json"
    if cache_file is not None and cache_file.is_file():
        try:
            data = json.loads(cache_file.read_text(encoding="utf-8"))
            return CompiledContract.from_json(data, cached=True)
        except (OSError, ValueError, CompilationError):
            pass  # a damaged cache entry is recompiled and overwritten
    start = time.perf_counter()
    result = _run_solc(config, module, payload)
    seconds = time.perf_counter() - start
    errors = [e for e in result.get("errors", []) if e.get("severity") == "error"]
    if errors:
        text = "\n".join(e.get("formattedMessage", e.get("message", "?")) for e in errors)
        raise CompilationError(f"solc rejected the source of {name}:\n{text}")
    try:
        output = result["contracts"][_FILE][name]
    except KeyError as exc:
        raise CompilationError(f"solc produced no contract {name!r}") from exc
    compiled = CompiledContract(
        name=name,
        abi=output["abi"],
        bytecode="0x" + output["evm"]["bytecode"]["object"],
        deployed_bytecode="0x" + output["evm"]["deployedBytecode"]["object"],
        source=source,
        source_digest=source_digest,
        solc_version=version,
        evm_version=config.evm_version,
        compile_seconds=seconds,
    )
    if config.cache_dir is not None:
        # Cache every contract of the source: asking for a sibling later is then a cache hit.
        for other, out in result["contracts"][_FILE].items():
            artifact = compiled.to_json() | {
                "name": other,
                "abi": out["abi"],
                "bytecode": "0x" + out["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
            }
            _store(config.cache_dir / f"{other}-{key}.json", artifact)
    return compiled


def _store(path: Path, artifact: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(artifact), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # caching is an optimisation; compiling still succeeded


def compile_spec(spec: ContractSpec, config: CompilerConfig | None = None) -> CompiledContract:
    """Generate the contract for ``spec`` and compile it for ``config.evm_version``."""
    config = config or CompilerConfig()
    source = generate_solidity(spec, GeneratorOptions(evm_version=config.evm_version))
    return compile_solidity(source, spec.contract, config)
