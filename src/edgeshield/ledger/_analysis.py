"""Static analysis of generated contracts with Slither, through the solc-js wrapper.

Why: the generator's security claims are checked by an independent analyser on every
generated contract; High and Medium findings fail ``make check``. Slither compiles with any
solc-compatible command, so it is pointed at ``solcjs.js`` (``--version`` and
``--standard-json``) and never downloads a compiler.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeshield.errors import CompilationError, ConfigError
from edgeshield.ledger._compiler import find_solc_module, solcjs_script
from edgeshield.ledger._generator import EvmVersion

__all__ = ["SERIOUS_IMPACTS", "Finding", "analyse_sources", "slither_available"]

#: Impacts that fail the check.
SERIOUS_IMPACTS = frozenset({"High", "Medium"})


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One Slither result."""

    contract: str
    check: str
    impact: str
    confidence: str
    description: str

    @property
    def serious(self) -> bool:
        """Whether the impact is High or Medium."""
        return self.impact in SERIOUS_IMPACTS


def slither_available() -> bool:
    """Whether Slither is importable in this environment (it is in the ``dev`` extra)."""
    return importlib.util.find_spec("slither") is not None


def analyse_sources(
    sources: dict[str, str],
    *,
    evm_version: EvmVersion = EvmVersion.PRAGUE,
    timeout_s: float = 300.0,
) -> list[Finding]:
    """Run Slither on ``{contract name: source}`` and return its Low-and-above findings.

    Raises
    ------
    ConfigError
        If Slither is not installed.
    CompilationError
        If Slither could not compile or analyse the sources.
    """
    if not slither_available():
        raise ConfigError("Slither is not installed: pip install -e '.[dev]' (make setup)")
    module = find_solc_module()
    env = {
        **os.environ,
        "EDGESHIELD_SOLC_MODULE": str(module),
        "EDGESHIELD_EVM_VERSION": evm_version.value,
    }
    with tempfile.TemporaryDirectory(prefix="edgeshield-slither-") as tmp:
        folder = Path(tmp)
        for name, source in sources.items():
            (folder / f"{name}.sol").write_text(source, encoding="utf-8")
        argv = [
            sys.executable,
            "-m",
            "slither",
            str(folder),
            "--solc",
            str(solcjs_script()),
            "--solc-standard-json",
            "--exclude-informational",
            "--exclude-optimization",
            "--json",
            "-",
        ]
        try:
            done = subprocess.run(  # noqa: S603 (fixed argv, no shell)
                argv,
                capture_output=True,
                text=True,
                cwd=folder,
                env=env,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CompilationError(f"Slither timed out after {timeout_s:g} s") from exc
    try:
        report = json.loads(done.stdout)
    except ValueError as exc:
        raise CompilationError(f"Slither failed: {done.stderr.strip()[-2000:]}") from exc
    if not report.get("success", False):
        raise CompilationError(f"Slither failed: {report.get('error') or done.stderr[-2000:]}")
    findings = []
    for item in report.get("results", {}).get("detectors", []):
        elements = item.get("elements") or [{}]
        parent = elements[0].get("type_specific_fields", {}).get("parent", {})
        contract = parent.get("name") or elements[0].get("name", "?")
        findings.append(
            Finding(
                contract=str(contract),
                check=str(item.get("check", "?")),
                impact=str(item.get("impact", "?")),
                confidence=str(item.get("confidence", "?")),
                description=" ".join(str(item.get("description", "")).split()),
            )
        )
    return findings


def _names(findings: Sequence[Finding]) -> list[str]:
    return sorted({f.check for f in findings})
