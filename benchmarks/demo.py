"""The demonstrator's default run as a benchmark: seconds per step and the security figures.

Run: ``.venv/bin/python benchmarks/demo.py [--engine simulation|in-process] [--seed 0]``

Runs ``edgeshield demo``'s default configuration once, prints one row per step (seconds and
outcome) and the reviewer's figures, and writes ``benchmarks/results/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from edgeshield.demo import DemoConfig, run_demo
from edgeshield.federated import Engine

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=[e.value for e in Engine], default="in-process")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = DemoConfig(engine=Engine(args.engine), seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(config, Path(tmp) / "run")
    print(f"{'step':32s} {'seconds':>8s}  outcome")
    for step in result.steps:
        print(f"{step.title:32s} {step.seconds:8.1f}  {step.outcome}")
    print(
        f"{'total':32s} {result.seconds:8.1f}  {'ok' if result.failed is None else result.failed}"
    )
    figures = {s.key: s.figures for s in result.steps}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "demo.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "demo",
                "command": f"python benchmarks/demo.py --engine {args.engine} --seed {args.seed}",
                "seconds": result.seconds,
                "failed": result.failed,
                "steps": [
                    {"key": s.key, "title": s.title, "seconds": s.seconds, "outcome": s.outcome}
                    for s in result.steps
                ],
                "figures": figures,
                "chain_events": len(result.chain_events),
            },
            indent=2,
            default=str,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
