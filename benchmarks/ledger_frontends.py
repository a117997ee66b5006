"""Front ends and property verification of the ledger contracts: cost and state-space size.

Run: ``.venv/bin/python benchmarks/ledger_frontends.py [--repeats 5]``

For each shipped contract and each of its four forms (YAML, controlled English, PNML, Turtle
with SHACL) the parse-and-check time (median of ``--repeats`` runs, grammar and shapes already
loaded) and whether the derived FSM equals the YAML one. Then the explicit-state exploration
of each contract at value bounds 1, 2 and 3 (states, states cut at the bound, time) and the
verdicts and time of a fixed set of properties per contract at the default bound 2.

Prints a table and writes ``benchmarks/results/ledger_frontends.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgeshield.ledger import (
    ContractSpec,
    ExplorationBounds,
    canonical_form,
    check_properties,
    explore,
    load_ontology,
    load_pnml,
    load_spec,
    load_text,
    specs_dir,
)

FILES = {
    "ModelRegistry": "model_registry",
    "ModelLicence": "model_licence",
    "FederatedRoundAudit": "federated_round_audit",
}
FORMS: dict[str, Callable[[Path], ContractSpec]] = {
    "yaml": load_spec,
    "txt": load_text,
    "pnml": load_pnml,
    "ttl": load_ontology,
}
PROPERTIES = {
    "ModelRegistry": [
        "reveal can only happen after commit",
        "commit cannot happen after reveal",
        "register cannot happen after transferOwnership",
        "reveal cannot happen after commit",
    ],
    "ModelLicence": [
        "reportUsage cannot happen after revoke",
        "reportUsage can only happen after accept",
        "if suspend happens, reportUsage can only happen after resume",
        "reportUsage cannot happen after tick",
        "reportUsage cannot happen after suspend",
        "tick will eventually happen after accept",
    ],
    "FederatedRoundAudit": [
        "attest can only happen after commitRound",
        "commitRound cannot happen after finish",
        "if closeRound happens, attest can only happen after commitRound",
        "closeRound will eventually happen after commitRound",
        "attest cannot happen after closeRound",
    ],
}


def _timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    result = function()  # warm-up: grammar, shapes and imports are loaded once
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = specs_dir()
    forms: list[dict[str, Any]] = []
    exploration: list[dict[str, Any]] = []
    properties: list[dict[str, Any]] = []
    for contract, stem in FILES.items():
        reference = canonical_form(load_spec(folder / f"{stem}.yaml"))
        for form, loader in FORMS.items():
            path = folder / f"{stem}.{form}"
            seconds, spec = _timed(lambda p=path, f=loader: f(p), args.repeats)
            forms.append(
                {
                    "contract": contract,
                    "form": form,
                    "parse_ms": round(seconds * 1000, 2),
                    "same_fsm": canonical_form(spec) == reference,
                }
            )
        spec = load_spec(folder / f"{stem}.yaml")
        for bound in (1, 2, 3):
            bounds = ExplorationBounds(max_value=bound)
            seconds, graph = _timed(lambda s=spec, b=bounds: explore(s, b), 1)
            exploration.append(
                {
                    "contract": contract,
                    "max_value": bound,
                    "states": graph.size,
                    "cut": len(graph.cut),
                    "complete": graph.complete,
                    "explore_s": round(seconds, 3),
                }
            )
        graph = explore(spec)
        for text in PROPERTIES[contract]:
            seconds, (verdict,) = _timed(
                lambda s=spec, t=text, g=graph: check_properties(s, [t], graph=g), 1
            )
            properties.append(
                {
                    "contract": contract,
                    "property": text,
                    "holds": verdict.holds,
                    "trace_length": len(verdict.trace) + len(verdict.loop),
                    "check_ms": round(seconds * 1000, 2),
                }
            )
    print(f"{'contract':<20} {'form':<5} {'parse ms':>9} {'same FSM':>9}")
    for row in forms:
        print(
            f"{row['contract']:<20} {row['form']:<5} {row['parse_ms']:>9.2f} {row['same_fsm']!s:>9}"
        )
    print()
    print(f"{'contract':<20} {'bound':>5} {'states':>7} {'cut':>5} {'seconds':>8}")
    for row in exploration:
        print(
            f"{row['contract']:<20} {row['max_value']:>5} {row['states']:>7} {row['cut']:>5} "
            f"{row['explore_s']:>8.3f}"
        )
    print()
    print(f"{'contract':<20} {'verdict':<6} {'trace':>5} {'ms':>7}  property")
    for row in properties:
        verdict = "holds" if row["holds"] else "FAILS"
        print(
            f"{row['contract']:<20} {verdict:<6} {row['trace_length']:>5} "
            f"{row['check_ms']:>7.2f}  {row['property']}"
        )
    out = Path(__file__).resolve().parent / "results" / "ledger_frontends.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "ledger_frontends",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeats": args.repeats,
        "forms": forms,
        "exploration": exploration,
        "properties": properties,
    }
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
