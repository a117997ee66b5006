"""Gas and latency of the generated contracts, plugin by plugin (FSolidM's table format).

Run: ``.venv/bin/python benchmarks/ledger.py [--repeats 20]``

Following Mavridou & Laszka (FC 2018, Table 1), the ModelLicence FSM is deployed and driven
through the same sequence of transitions in several forms: a hand-written plain contract
(``benchmarks/contracts/PlainLicence.sol``: role and state checks, guards, pull payments,
nothing else), the generated contract with no plugin but access control ("base"), base plus
each plugin alone, and the shipped contract with all plugins. Gas is exact (py-evm, Prague);
each plugin's cost is its difference to "base". Targets: transient lock <= +1k gas per
transition, transition counter <= +5.5k gas per transition, timed transitions <= +10 % deploy
gas. Compile time (solc-js, cold and cached) and deploy / transaction latency on the embedded
py-evm chain are measured too (wall clock, median of ``--repeats``).

Prints a table and writes ``benchmarks/results/ledger.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgeshield.ledger import (
    Chain,
    CompiledContract,
    CompilerConfig,
    ContractSpec,
    Locking,
    PluginSpec,
    SpecContract,
    compile_solidity,
    compile_spec,
    find_solc_module,
    shipped_spec,
)

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "ledger.json"
DIGEST = b"\x11" * 32
BASE = PluginSpec(
    locking=Locking.NONE,
    counter=False,
    events=False,
    access_control=True,
    pausable=None,
    timed=False,
)
VARIANTS: dict[str, PluginSpec] = {
    "base (access control only)": BASE,
    "+ storage lock": BASE.model_copy(update={"locking": Locking.STORAGE}),
    "+ transient lock": BASE.model_copy(update={"locking": Locking.TRANSIENT}),
    "+ transition counter": BASE.model_copy(update={"counter": True}),
    "+ events": BASE.model_copy(update={"events": True}),
    "+ pausable": BASE.model_copy(update={"pausable": "owner"}),
    "+ timed transitions": BASE.model_copy(update={"timed": True}),
}
TARGETS = {
    "+ transient lock": ("max extra gas per transition", 1_000),
    "+ transition counter": ("max extra gas per transition", 5_500),
    "+ timed transitions": ("extra deploy gas, % of base", 10.0),
}
# (transition, inputs, sender index, wei); withdraw is the pull payment (no counter argument).
SEQUENCE: list[tuple[str, dict[str, Any], int, int]] = [
    ("accept", {}, 1, 500),
    ("reportUsage", {"count": 3}, 2, 0),
    ("suspend", {}, 0, 0),
    ("resume", {}, 0, 0),
    ("topUp", {}, 1, 100),
    ("reportUsage", {"count": 2}, 2, 0),
    ("withdraw", {}, 0, 0),
    ("rebindDevice", {"newDevice": None}, 0, 0),
    ("revoke", {}, 0, 0),
]


def _args(chain: Chain, spec: ContractSpec) -> dict[str, Any]:
    return {
        "licensee": chain.accounts[1],
        "device": chain.accounts[2],
        "modelDigest": DIGEST,
        "pricePerUse": 10,
        "expiresAt": 2**40,
    }


def _run_generated(chain: Chain, spec: ContractSpec, config: CompilerConfig) -> dict[str, Any]:
    contract = SpecContract.deploy(chain, spec, _args(chain, spec), compiler=config)
    gas = {"deploy": contract.deployed.deploy_gas}
    steps = []
    for name, inputs, sender, value in SEQUENCE:
        given = {k: (chain.accounts[5] if v is None else v) for k, v in inputs.items()}
        if name == "withdraw":
            result = contract.call_function(name, sender=chain.accounts[sender])
        else:
            result = contract.transition(name, given, sender=chain.accounts[sender], value=value)
        steps.append({"transition": name, "gas": result.gas_used})
    return {"deploy": gas["deploy"], "steps": steps}


def _run_plain(chain: Chain, compiled: CompiledContract) -> dict[str, Any]:
    args = _args(chain, shipped_spec("ModelLicence"))
    contract = chain.deploy(compiled, list(args.values()), sender=chain.accounts[0])
    steps = []
    for name, inputs, sender, value in SEQUENCE:
        given = [chain.accounts[5] if v is None else v for v in inputs.values()]
        result = contract.transact(name, *given, sender=chain.accounts[sender], value=value)
        steps.append({"transition": name, "gas": result.gas_used})
    return {"deploy": contract.deploy_gas, "steps": steps}


def _latency(chain: Chain, config: CompilerConfig, repeats: int) -> dict[str, float]:
    spec = shipped_spec("ModelLicence")
    deploys, txs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        contract = SpecContract.deploy(chain, spec, _args(chain, spec), compiler=config)
        deploys.append(time.perf_counter() - start)
    contract.transition("accept", sender=chain.accounts[1], value=10**6)
    for _ in range(repeats):
        counter = contract.counter()
        start = time.perf_counter()
        contract.transition("reportUsage", {"count": 1}, sender=chain.accounts[2], counter=counter)
        txs.append(time.perf_counter() - start)
    # What each transaction runs before it is sent, same tx, same state: web3's gas estimate
    # (py-evm's binary search) against the one dry run the embedded chain now does instead.
    deployed = contract.deployed
    tx = {
        "from": chain.accounts[2],
        "to": deployed.address,
        "data": deployed._contract.encode_abi("reportUsage", args=[contract.counter(), 1]),
        "value": 0,
    }
    estimates, dry_runs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        chain.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        estimates.append(time.perf_counter() - start)
        start = time.perf_counter()
        chain.w3.eth.call(tx, "pending")  # type: ignore[arg-type]
        dry_runs.append(time.perf_counter() - start)
    return {
        "deploy_ms_median": 1000 * statistics.median(deploys),
        "transaction_ms_median": 1000 * statistics.median(txs),
        "estimate_gas_ms_median": 1000 * statistics.median(estimates),
        "dry_run_ms_median": 1000 * statistics.median(dry_runs),
        "repeats": repeats,
    }


def _compile_times(repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = CompilerConfig(cache_dir=Path(tmp))
        for name in ("ModelRegistry", "ModelLicence", "FederatedRoundAudit"):
            spec = shipped_spec(name)
            cold = []
            for _ in range(max(1, repeats // 10)):
                start = time.perf_counter()
                compiled = compile_spec(spec, CompilerConfig())
                cold.append(time.perf_counter() - start)
            compile_spec(spec, config)
            start = time.perf_counter()
            cached = compile_spec(spec, config)
            warm = time.perf_counter() - start
            assert cached.cached
            out[name] = {
                "cold_s_median": statistics.median(cold),
                "cached_s": warm,
                "runtime_bytes": (len(compiled.deployed_bytecode) - 2) // 2,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    options = parser.parse_args()
    config = CompilerConfig()
    licence = shipped_spec("ModelLicence")
    chain = Chain.embedded()

    plain_source = (ROOT / "contracts" / "PlainLicence.sol").read_text(encoding="utf-8")
    rows: dict[str, dict[str, Any]] = {
        "hand-written plain": _run_plain(chain, compile_solidity(plain_source, "PlainLicence"))
    }
    for label, plugins in VARIANTS.items():
        rows[label] = _run_generated(chain, licence.with_plugins(plugins), config)
    rows["all plugins (shipped)"] = _run_generated(chain, licence, config)

    base = rows["base (access control only)"]
    for row in rows.values():
        deltas = [s["gas"] - b["gas"] for s, b in zip(row["steps"], base["steps"], strict=True)]
        row["deploy_delta"] = row["deploy"] - base["deploy"]
        row["deploy_delta_pct"] = 100 * row["deploy_delta"] / base["deploy"]
        row["transition_delta_max"] = max(deltas)
        row["transition_delta_mean"] = statistics.mean(deltas)
    targets = {}
    for label, (what, limit) in TARGETS.items():
        row = rows[label]
        value = row["deploy_delta_pct"] if "deploy" in what else row["transition_delta_max"]
        targets[label] = {"metric": what, "value": value, "target": limit, "met": value <= limit}

    names = [s["transition"] for s in base["steps"]]
    header = (
        f"{'variant':<28} {'deploy':>9} {'Δdeploy':>8} "
        + " ".join(f"{n[:9]:>9}" for n in names)
        + f" {'Δmax':>6} {'Δmean':>7}"
    )
    print(header)
    for label, row in rows.items():
        print(
            f"{label:<28} {row['deploy']:>9} {row['deploy_delta_pct']:>7.1f}% "
            + " ".join(f"{s['gas']:>9}" for s in row["steps"])
            + f" {row['transition_delta_max']:>6} {row['transition_delta_mean']:>7.0f}"
        )
    print()
    for label, target in targets.items():
        status = "met" if target["met"] else "MISSED"
        print(
            f"{label}: {target['metric']} = {target['value']:.1f} "
            f"(target <= {target['target']}): {status}"
        )

    compile_times = _compile_times(options.repeats)
    latency = _latency(chain, config, options.repeats)
    print()
    for name, item in compile_times.items():
        print(
            f"compile {name}: cold {item['cold_s_median']:.2f} s, cached "
            f"{1000 * item['cached_s']:.1f} ms, runtime {item['runtime_bytes']} bytes"
        )
    print(
        f"py-evm: deploy {latency['deploy_ms_median']:.1f} ms, transaction "
        f"{latency['transaction_ms_median']:.1f} ms (median of {latency['repeats']})"
    )

    solc = json.loads((find_solc_module() / "package.json").read_text())["version"]
    result = {
        "benchmark": "ledger",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "solc": solc,
            "evm_version": config.evm_version.value,
            "chain": "eth-tester on py-evm (Prague)",
        },
        "sequence": names,
        "gas": rows,
        "targets": targets,
        "compile": compile_times,
        "latency": latency,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {OUT.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()
