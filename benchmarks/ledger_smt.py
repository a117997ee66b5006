"""The shipped contracts' properties proved by solc's SMTChecker (CHC) with an external z3.

Run: ``.venv/bin/python benchmarks/ledger_smt.py [--timeout 60]``

For each shipped contract, each property of its ``contracts/specs/*.props`` file is turned into
an assert harness (``edgeshield.ledger.smt_harness``) and checked by solc-js 0.8.28's CHC engine,
each Horn query answered by the pinned z3 with ``--timeout`` seconds; the outcome (proved,
violated, unknown, not checked for liveness; funds through a one-step refund condition), the
seconds per property and the number of queries. Each contract's properties go to one
``verify_smt`` call, as ``edgeshield ledger verify --smt`` sends them: a property whose harness
is the same text as an earlier one's is answered from that run (``same_harness_as``, 0 s).

Prints a table and writes ``benchmarks/results/ledger_smt.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgeshield.ledger import SmtConfig, find_solc_module, find_z3, load_spec, specs_dir, verify_smt

FILES = {
    "ModelRegistry": "model_registry",
    "ModelLicence": "model_licence",
    "FederatedRoundAudit": "federated_round_audit",
}
RESULTS = Path(__file__).parent / "results" / "ledger_smt.json"


def _properties(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def main() -> None:
    """Check every shipped property and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per CHC query")
    args = parser.parse_args()
    z3 = find_z3()
    z3_version = subprocess.run(
        [str(z3), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    solc = json.loads((find_solc_module() / "package.json").read_text(encoding="utf-8"))
    config = SmtConfig(timeout_s=args.timeout, z3=z3)
    rows: list[dict[str, Any]] = []
    for contract, stem in FILES.items():
        spec = load_spec(specs_dir() / f"{stem}.yaml")
        texts = _properties(specs_dir() / f"{stem}.props")
        for text, verdict in zip(texts, verify_smt(spec, texts, config), strict=True):
            print(f"{contract:<20} {verdict.explain()}", flush=True)
            shared = verdict.same_harness_as
            rows.append(
                {
                    "contract": contract,
                    "property": text,
                    "outcome": verdict.outcome.value,
                    "asserts": [list(item) for item in verdict.asserts],
                    "seconds": round(verdict.seconds, 2),
                    "queries": verdict.queries,
                    "same_harness_as": None if shared is None else str(shared),
                }
            )
    outcomes = [row["outcome"] for row in rows]
    summary = {o: outcomes.count(o) for o in ("proved", "violated", "unknown", "not checked")}
    print(summary)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "ledger_smt",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "z3": z3_version,
                "solc": f"solc-js {solc.get('version')}",
                "engine": "chc",
                "timeout_s_per_query": args.timeout,
                "summary": summary,
                "total_seconds": round(sum(row["seconds"] for row in rows), 1),
                "properties": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
