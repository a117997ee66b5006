"""The demonstrator's default run as a benchmark: seconds per step and the security figures.

Run: ``.venv/bin/python benchmarks/demo.py [--engine simulation|in-process] [--seed 0]
[--baseline]``

Runs ``edgeshield demo``'s default configuration once, prints one row per step (seconds and
outcome) and the reviewer's figures, and writes ``benchmarks/results/demo.json`` (in-process
grid, the default) or ``benchmarks/results/demo_simulation.json`` (``--engine simulation``,
Flower's Ray engine). With ``--engine simulation --baseline`` the same configuration also runs
on the in-process grid first, in the same process, and the JSON holds both runs and the ratio
of their total and training seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import tempfile
from pathlib import Path
from typing import Any

from edgeshield.demo import DemoConfig, DemoResult, run_demo
from edgeshield.federated import Engine

RESULTS = Path(__file__).resolve().parent / "results"


def _run(config: DemoConfig) -> DemoResult:
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(config, Path(tmp) / "run")
    print(f"engine {config.engine.value}")
    print(f"{'step':32s} {'seconds':>8s}  outcome")
    for step in result.steps:
        print(f"{step.title:32s} {step.seconds:8.1f}  {step.outcome}")
    print(
        f"{'total':32s} {result.seconds:8.1f}  {'ok' if result.failed is None else result.failed}"
    )
    return result


def _config_record(config: DemoConfig) -> dict[str, Any]:
    """The run's settings as JSON values (no signing keys, no node URL: either may be secret)."""
    record: dict[str, Any] = {"chain": "embedded" if config.rpc_url is None else "json-rpc"}
    for field in dataclasses.fields(config):
        if field.name in ("private_keys", "rpc_url"):
            continue
        value = getattr(config, field.name)
        record[field.name] = value.value if isinstance(value, enum.Enum) else value
    return record


def _record(result: DemoResult) -> dict[str, Any]:
    return {
        "config": _config_record(result.config),
        "engine": result.config.engine.value,
        "seconds": result.seconds,
        "failed": result.failed,
        "steps": [
            {"key": s.key, "title": s.title, "seconds": s.seconds, "outcome": s.outcome}
            for s in result.steps
        ],
        "figures": {s.key: s.figures for s in result.steps},
        "chain_events": len(result.chain_events),
    }


def _training_seconds(result: DemoResult) -> float:
    return next(s.seconds for s in result.steps if s.key == "federated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=[e.value for e in Engine], default="in-process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="with --engine simulation: also run the in-process grid first, for the ratio",
    )
    args = parser.parse_args()
    engine = Engine(args.engine)
    config = DemoConfig(engine=engine, seed=args.seed)
    command = f"python benchmarks/demo.py --engine {args.engine} --seed {args.seed}"
    out = RESULTS / ("demo.json" if engine is Engine.IN_PROCESS else "demo_simulation.json")
    payload: dict[str, Any] = {"benchmark": out.stem}
    if engine is Engine.SIMULATION and args.baseline:
        command += " --baseline"
        base = _run(dataclasses.replace(config, engine=Engine.IN_PROCESS))
        result = _run(config)
        payload["baseline"] = _record(base)
        if base.failed is None and result.failed is None:
            payload["ratio_total"] = result.seconds / base.seconds
            payload["ratio_training"] = _training_seconds(result) / _training_seconds(base)
            print(
                f"simulation / in-process: total {payload['ratio_total']:.2f}x, "
                f"federated training {payload['ratio_training']:.2f}x"
            )
    else:
        result = _run(config)
    payload["command"] = command
    payload.update(_record(result))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
