"""Guarded inference: cost of the defences, and how they fare against the extraction red team.

Run: ``.venv/bin/python benchmarks/guard.py`` (about 10 minutes on 2 cores).

Everything runs against live uvicorn servers on loopback, started as subprocesses:
``edgeshield guard serve`` from a sealed bundle (all defences: API keys, token buckets and
quotas, PRADA, the API watermark, per-client output tiers, SQLite state, audit log) and, as the
baseline, the same model served plain by FastAPI (``benchmarks/guard_plain.py``).

1. Throughput and p50/p99 latency, 50 concurrent clients, same run, alternating rounds.
2. PRADA: detection delay against the Jacobian attack (several seeds), Knockoff and equation
   solving; false alarms of benign clients replaying sensor traces (10,000 queries each, the
   real AI4I 2020 file included when present), of steady machines polled at the sensors'
   resolution and of dashboards re-polling the same machines; the share of each benign client's
   answers the API watermark altered.
3. Output hardening: extraction fidelity (class-balanced) versus query budget for each tier;
   top-1 unchanged for every benign query.
4. API watermark: share of answers altered; ownership p-value of a Knockoff surrogate against
   null models of the ownership package.

Prints tables, writes ``benchmarks/results/guard.json`` and ``docs/img/guard_hardening.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import torch

from edgeshield.guard import (
    ApiWatermark,
    CellKind,
    ClientRegistry,
    GuardStore,
    HardeningConfig,
    OutputTier,
    PradaConfig,
    SensorRecord,
    harden,
    records_from_frame,
    seal_classifier,
    verify_api_watermark,
)
from edgeshield.ownership import train_null_models
from edgeshield.redteam import AttackKind, ExtractionConfig, GuardClient, run_extraction
from edgeshield.usecase import (
    FleetConfig,
    GeneratorConfig,
    TrainConfig,
    dashboard_polls,
    generate,
    make_fleet,
    read_uci_csv,
    save_classifier,
    steady_trace,
    train_classifier,
)
from edgeshield.vault import DeviceKey, OwnerKey, inspect_bundle, issue_licence

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "guard.json"
PLOT = ROOT / "docs" / "img" / "guard_hardening.png"
REAL = Path(os.environ.get("EDGESHIELD_SHARED", ROOT.parent / "shared")) / "data" / "ai4i2020.csv"
SECRET = "benchmark-watermark-secret-" + "k" * 40
SENSORS = {
    "Type": "type",
    "Air temperature [K]": "air_temperature_k",
    "Process temperature [K]": "process_temperature_k",
    "Rotational speed [rpm]": "rotational_speed_rpm",
    "Torque [Nm]": "torque_nm",
    "Tool wear [min]": "tool_wear_min",
}
THIEF_SIZES = (2000, 5000, 20000)
SURROGATES = {
    "default (32,32) 300 ep": ((32, 32), 300),
    "fitting (64,64) 1000 ep": ((64, 64), 1000),
}
FITTING_MAX = 20000
TIERS = (
    OutputTier.FULL,
    OutputTier.TOP_K,
    OutputTier.ROUNDED,
    OutputTier.REVERSE_SIGMOID,
    OutputTier.LABEL_ONLY,
)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A uvicorn server in a subprocess."""

    def __init__(self, command: list[str], env: dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        # the server's log, kept for a post-mortem when a run fails
        self.log = Path(tempfile.mkstemp(prefix="guard-bench-", suffix=".log")[1])
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                env={**os.environ, "OMP_NUM_THREADS": "1", **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {command}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.3)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        """Graceful shutdown (SIGINT), then kill after 30 s."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _load(
    url: str, keys: list[str], records: list[dict[str, Any]], requests: int, batch: int
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=len(keys), max_keepalive_connections=len(keys))

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def client(i: int) -> None:
            for r in range(requests):
                start = (i * requests + r) * batch % (len(records) - batch)
                body = {"records": records[start : start + batch]}
                t0 = time.perf_counter()
                response = await http.post("/v1/predict", json=body, headers={"X-API-Key": keys[i]})
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        # warm-up
        await asyncio.gather(
            *(
                http.post(
                    "/v1/predict", json={"records": records[:batch]}, headers={"X-API-Key": k}
                )
                for k in keys[:5]
            )
        )
        t0 = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(len(keys))))
        wall = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "wall_s": wall,
        "requests_per_s": len(latencies) / wall,
        "records_per_s": len(latencies) * batch / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def _frame_of(records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{col: r[name] for col, name in SENSORS.items()} for r in records]
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=30, help="requests per client per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--benign", type=int, default=10, help="generated benign traces")
    parser.add_argument("--benign-queries", type=int, default=10_000)
    parser.add_argument("--steady", type=int, default=5, help="steady machines (benign)")
    parser.add_argument("--dashboards", type=int, default=2, help="dashboards of 20 machines")
    parser.add_argument("--jacobian-seeds", type=int, default=5)
    parser.add_argument("--attack-seeds", type=int, default=3, help="equation-solving seeds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t_start = time.time()

    # -- the victim, sealed ---------------------------------------------------------------
    fleet = make_fleet(FleetConfig(plants=5, total_rows=10_000), seed=0)
    train = pd.concat([fleet.frames[p] for p in fleet.plant_ids[:4]], ignore_index=True)
    classifier = train_classifier(train, TrainConfig(epochs=30), seed=0)
    attacker_pool = fleet.frames[fleet.plant_ids[4]]
    eval_frame = generate(GeneratorConfig(rows=10_000), seed=99)
    victim_eval = classifier.predict(eval_frame)
    print(
        f"victim: trained on {len(train)} rows; eval {len(eval_frame)} rows, "
        f"{int(victim_eval.sum())} victim failure predictions"
    )

    work = Path(tempfile.mkdtemp(prefix="guard-bench-"))
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    bundle = seal_classifier(
        classifier, owner_key=owner, recipients=[device.public_key()], model_id="failure-classifier"
    )
    (work / "model.bundle").write_bytes(bundle)
    device.save(work / "device.pem")
    owner.public_key().save(work / "owner.pub.pem")
    now = datetime.now(UTC)
    (work / "licence.txt").write_text(
        issue_licence(
            owner,
            device=device.public_key(),
            model_digest=inspect_bundle(bundle).model_digest,
            not_before=now - timedelta(days=1),
            expires=now + timedelta(days=1),
            query_quota=10_000_000,
        )
    )
    save_classifier(classifier, work / "model")
    registry = ClientRegistry()
    keys: dict[str, str] = {}

    def add(name: str, tier: OutputTier) -> None:
        keys[name] = registry.add(name, tier=tier, rate_per_s=1e9, burst=1e9)

    for i in range(args.clients):
        add(f"load-{i}", OutputTier.REVERSE_SIGMOID)
    for s in range(args.jacobian_seeds):
        add(f"jacobian-{s}", OutputTier.LABEL_ONLY)
    for tier in TIERS:
        add(f"knockoff-{tier.value}", tier)
        if tier is not OutputTier.LABEL_ONLY:
            for seed in range(args.attack_seeds):
                add(f"equation-{tier.value}-{seed}", tier)
    for i in range(args.benign + 1):
        add(f"benign-{i}", OutputTier.LABEL_ONLY)
    for i in range(args.steady):
        add(f"steady-{i}", OutputTier.LABEL_ONLY)
    for i in range(args.dashboards):
        add(f"dashboard-{i}", OutputTier.LABEL_ONLY)
    for size in THIEF_SIZES:
        add(f"thief-{size}", OutputTier.LABEL_ONLY)
    add("owner-eval", OutputTier.FULL)
    registry.save(work / "clients.json")
    db_url = f"sqlite:///{work / 'state.db'}"
    guard_cmd = [
        sys.executable,
        "-c",
        "from edgeshield.cli import main; main()",
        "guard",
        "serve",
        "--bundle",
        str(work / "model.bundle"),
        "--device-key",
        str(work / "device.pem"),
        "--owner-public",
        str(work / "owner.pub.pem"),
        "--licence",
        str(work / "licence.txt"),
        "--clients",
        str(work / "clients.json"),
        "--db-url",
        db_url,
        "--alarm-action",
        "log",
        "--no-access-log",  # the plain baseline logs warnings only
    ]
    plain_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "guard_plain:create_plain_app",
        "--app-dir",
        str(ROOT / "benchmarks"),
        "--log-level",
        "warning",
    ]
    results: dict[str, Any] = {
        "command": "python benchmarks/guard.py " + " ".join(sys.argv[1:]),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch_threads": 1,
        },
    }

    # -- 1. throughput ---------------------------------------------------------------------
    load_records = records_from_frame(pd.concat(fleet.frames.values(), ignore_index=True))
    load_keys = [keys[f"load-{i}"] for i in range(args.clients)]
    rounds: dict[str, list[dict[str, Any]]] = {"plain": [], "guard": []}
    for r in range(args.rounds):
        for name in ("plain", "guard"):
            port = _port()
            if name == "plain":
                server = Server(
                    [*plain_cmd, "--port", str(port)],
                    {"EDGESHIELD_PLAIN_MODEL": str(work / "model")},
                    port,
                )
            else:
                server = Server(
                    [*guard_cmd, "--port", str(port)],
                    {"EDGESHIELD_GUARD_WATERMARK_SECRET": SECRET},
                    port,
                )
            try:
                keys_used = load_keys if name == "guard" else ["-"] * args.clients
                rounds[name].append(
                    asyncio.run(
                        _load(server.url, keys_used, load_records, args.requests, args.batch)
                    )
                )
            finally:
                server.stop()
            print(f"round {r} {name}: {rounds[name][-1]['requests_per_s']:.0f} req/s")
    summary = {
        name: {
            "requests_per_s": float(np.mean([x["requests_per_s"] for x in rs])),
            "p50_ms": float(np.mean([x["p50_ms"] for x in rs])),
            "p99_ms": float(np.mean([x["p99_ms"] for x in rs])),
            "non_2xx": sum(v for x in rs for k, v in x["statuses"].items() if k != "200"),
        }
        for name, rs in rounds.items()
    }
    ratio = summary["guard"]["requests_per_s"] / summary["plain"]["requests_per_s"]
    results["throughput"] = {
        "clients": args.clients,
        "requests_per_client": args.requests,
        "batch": args.batch,
        "rounds": rounds,
        "summary": summary,
        "ratio": ratio,
        "target": 0.8,
    }
    print(
        f"\nThroughput ({args.clients} concurrent clients, batch {args.batch}, "
        f"{args.rounds} rounds)"
    )
    print(f"{'server':<8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
    for name, s in summary.items():
        print(
            f"{name:<8}{s['requests_per_s']:>10.0f}{s['p50_ms']:>10.1f}{s['p99_ms']:>10.1f}{s['non_2xx']:>9}"
        )
    per_round = [
        g["requests_per_s"] / p["requests_per_s"]
        for g, p in zip(rounds["guard"], rounds["plain"], strict=True)
    ]
    results["throughput"]["ratio_per_round"] = per_round
    print(
        f"guard / plain throughput: {ratio:.2f} (target >= 0.8); per round: "
        + ", ".join(f"{r:.2f}" for r in per_round)
    )

    # -- the attacks and benign clients, against one guard server ---------------------------
    port = _port()
    server = Server(
        [*guard_cmd, "--port", str(port)], {"EDGESHIELD_GUARD_WATERMARK_SECRET": SECRET}, port
    )
    store = GuardStore(db_url)
    budgets = (100, 300, 1000, 3000)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:

            def attack(
                name: str, kind: AttackKind, seed: int = 0, budgets_: tuple[int, ...] = budgets
            ) -> dict[str, Any]:
                report = run_extraction(
                    GuardClient(http, keys[name], batch=100),
                    ExtractionConfig(kind=kind, budgets=budgets_, seed=seed),
                    attacker_pool=attacker_pool,
                    eval_frame=eval_frame,
                    victim_eval_labels=victim_eval,
                )
                state = store.client_state(name)
                out = report.as_dict()
                out["alarm_at"] = None if state is None else state.alarm_at
                return out

            # 2. PRADA
            jacobian = [
                attack(f"jacobian-{s}", AttackKind.JACOBIAN, seed=s, budgets_=(100, 300, 1000))
                for s in range(args.jacobian_seeds)
            ]
            benign_traces = {
                f"benign-{i}": generate(GeneratorConfig(rows=args.benign_queries), seed=500 + i)
                for i in range(args.benign)
            }
            if REAL.is_file():
                benign_traces[f"benign-{args.benign}"] = read_uci_csv(REAL).iloc[
                    : args.benign_queries
                ]
            sources = {name: "generated trace" for name in benign_traces}
            if REAL.is_file():
                sources[f"benign-{args.benign}"] = "real AI4I 2020 file"
            batches = dict.fromkeys(benign_traces, 100)
            for i in range(args.steady):
                name = f"steady-{i}"
                benign_traces[name] = steady_trace(args.benign_queries, seed=700 + i)
                sources[name], batches[name] = "steady machine at sensor resolution", 10
            for i in range(args.dashboards):
                name = f"dashboard-{i}"
                benign_traces[name] = dashboard_polls(args.benign_queries // 20, 20, seed=800 + i)
                sources[name], batches[name] = "dashboard re-polling 20 steady machines", 20
            benign: dict[str, Any] = {}
            for name, trace in benign_traces.items():
                GuardClient(http, keys[name], batch=batches[name]).query(trace)
                state = store.client_state(name)
                benign[name] = {
                    "queries": len(trace),
                    "alarm_at": state.alarm_at if state else None,
                    "source": sources[name],
                }
            # 3. hardening (knockoff for every tier, equation solving where probabilities show)
            hardening: dict[str, Any] = {}
            for tier in TIERS:
                hardening[f"knockoff/{tier.value}"] = attack(
                    f"knockoff-{tier.value}",
                    AttackKind.KNOCKOFF,
                    budgets_=tuple(b for b in budgets if b <= len(attacker_pool)),
                )
                if tier is not OutputTier.LABEL_ONLY:
                    runs = [
                        attack(f"equation-{tier.value}-{seed}", AttackKind.EQUATION_SOLVING, seed)
                        for seed in range(args.attack_seeds)
                    ]
                    hardening[f"equation-solving/{tier.value}"] = _mean_run(runs)
                print(f"hardening {tier.value} done")
            # 4. watermark: Knockoff thieves with many natural queries
            thief_pools = {
                size: generate(GeneratorConfig(rows=size), seed=11 + i)
                for i, size in enumerate(THIEF_SIZES)
            }
            thief_answers = {
                size: GuardClient(http, keys[f"thief-{size}"], batch=200).query(pool).labels
                for size, pool in thief_pools.items()
            }
            # top-1 check: benign eval rows through every tier's hardening, as the service does
            full = GuardClient(http, keys["owner-eval"], batch=200).query(eval_frame)
        top1 = {}
        p_eval = classifier.predict_proba(eval_frame)
        for tier in TIERS:
            out = harden(
                p_eval, victim_eval, tier, threshold=classifier.threshold, config=HardeningConfig()
            )
            top1[tier.value] = int(
                sum(o.label != int(v) for o, v in zip(out, victim_eval, strict=True))
            )
        served_differs = int(np.sum(full.labels != victim_eval))
    finally:
        server.stop()

    from edgeshield.redteam import fidelity as fid
    from edgeshield.redteam import fit_surrogate

    null_sources = {
        f"fleet-{s}": pd.concat(
            make_fleet(FleetConfig(plants=3, total_rows=6000), seed=100 + s).frames.values(),
            ignore_index=True,
        )
        for s in range(3)
    }
    nulls = train_null_models(null_sources, 12, epochs=15, seed=0)
    true_eval = eval_frame["Machine failure"].to_numpy(np.int64)
    watermark = ApiWatermark(SECRET.encode())
    thieves: list[dict[str, Any]] = []
    for size, pool in thief_pools.items():
        marks = store.watermark_records(f"thief-{size}")
        queries = _frame_of([m.query for m in marks])
        served = np.asarray([m.served_label for m in marks], dtype=np.int64)
        independent = verify_api_watermark(
            next(iter(nulls.values())), queries, served, watermark=watermark
        )
        for label, (hidden, epochs) in SURROGATES.items():
            if epochs > 300 and size > FITTING_MAX:
                continue
            surrogate = fit_surrogate(pool, thief_answers[size], hidden=hidden, epochs=epochs)
            evidence = verify_api_watermark(surrogate.predict, queries, served, watermark=watermark)
            train_agreement = float(np.mean(surrogate.predict(pool) == thief_answers[size]))
            thieves.append(
                {
                    "queries": size,
                    "surrogate": label,
                    "train_agreement": train_agreement,
                    "fidelity": fid(surrogate.predict(eval_frame), victim_eval, true_eval).__dict__,
                    "evidence": evidence.as_dict(),
                    "independent_model_evidence": independent.as_dict(),
                }
            )
    for name, entry in benign.items():  # the altered share each benign client saw
        book_of = store.watermark_records(name)
        kinds = watermark.kinds([SensorRecord.model_validate(m.query) for m in book_of])
        entry["answers_altered_share"] = int(np.sum(kinds == CellKind.MARKED)) / entry["queries"]
    total_answered = sum(r.records for r in store.audit_log() if r.event == "query")
    book = store.watermark_records()
    all_marks = int(
        np.sum(
            watermark.kinds([SensorRecord.model_validate(m.query) for m in book]) == CellKind.MARKED
        )
    )
    store.close()

    # -- report ---------------------------------------------------------------------------
    alarms = [j["alarm_at"] for j in jacobian]
    benign_alarmed = sum(1 for b in benign.values() if b["alarm_at"] is not None)
    # The service's defaults, which `guard serve` runs with (its settings take them from
    # PradaConfig since issue 15; before, the server ran delta 0.9 while this said 0.95).
    prada = PradaConfig()
    results["prada"] = {
        "jacobian": jacobian,
        "jacobian_alarm_at": alarms,
        "knockoff_alarm_at": hardening["knockoff/label"]["alarm_at"],
        "equation_solving_alarm_at": hardening["equation-solving/full"]["alarm_at"],
        "benign": benign,
        "benign_alarmed": benign_alarmed,
        "benign_clients": len(benign),
        "targets": {"jacobian_alarm_within": 300, "benign_false_alarm_rate": 0.01},
        "detector": {
            "delta": prada.delta,
            "alpha": prada.alpha,
            "min_group": prada.min_group,
            "repeat_distance": prada.repeat_distance,
            "fence": prada.fence,
            "fence_share": prada.fence_share,
        },
    }
    print(
        f"\nPRADA (delta {prada.delta:g}, alpha {prada.alpha:g}, repeat distance "
        f"{prada.repeat_distance:g}, log distances on the five sensors, per class and product "
        f"type, centred per group of at least {prada.min_group}, far-out fence {prada.fence} IQR)"
    )
    print(
        f"Jacobian alarm after queries (seeds 0..{args.jacobian_seeds - 1}): {alarms} "
        "(target <= 300)"
    )
    print(
        f"Knockoff (natural queries) alarm: {results['prada']['knockoff_alarm_at']}; "
        f"equation solving (uniform random) alarm: {results['prada']['equation_solving_alarm_at']}"
    )
    print(
        f"benign clients alarmed: {benign_alarmed} / {len(benign)} "
        f"({args.benign_queries} queries each; target <= 1 %)"
    )
    for name, entry in benign.items():
        print(
            f"  {name:<12} {entry['source']:<40} alarm {entry['alarm_at']}, answers altered "
            f"{100 * entry['answers_altered_share']:.2f} %"
        )

    results["hardening"] = {
        "runs": hardening,
        "top1_changed": top1,
        "served_labels_differ_from_model": served_differs,
    }
    print("\nExtraction fidelity vs budget (macro agreement / agreement on victim failures)")
    print(f"{'attack/tier':<34}" + "".join(f"{b:>14}" for b in budgets))
    for name, run_ in hardening.items():
        cells = {
            p["budget"]: f"{p['macro_agreement']:.2f}/{p['failure_agreement']:.2f}"
            for p in run_["points"]
        }
        print(f"{name:<34}" + "".join(f"{cells.get(b, '-'):>14}" for b in budgets))
    print(f"top-1 changed by hardening on {len(eval_frame)} benign rows: {top1}")
    effect = _hardening_effect(hardening, budgets)
    results["hardening"]["effect"] = effect
    print(
        "\nHardening effect on equation solving (vs full probabilities; target: >= 20 pp or >= 10x)"
    )
    for tier, e in effect.items():
        print(
            f"{tier:<16} macro -{e['macro_drop_pp_at_300']:.0f} pp, on failures "
            f"-{e['failure_drop_pp_at_300']:.0f} pp at 300 queries; queries to reach full's "
            f"300-query macro fidelity: {e['queries_to_match_full_300'] or '> 3000'}"
        )
        print(
            "   drop by budget (macro / failures, pp): "
            + ", ".join(
                f"{b}: {e['macro_drop_pp'][b]:.0f}/{e['failure_drop_pp'][b]:.0f}"
                for b in e["macro_drop_pp"]
            )
        )

    results["watermark"] = {
        "answers_total": total_answered,
        "answers_altered": all_marks,
        "altered_fraction": all_marks / total_answered,
        "null_models": list(nulls),
        "thieves": thieves,
        "target_p": 1e-6,
    }
    print(
        f"\nAPI watermark: {all_marks} of {total_answered} answers altered "
        f"({100 * all_marks / total_answered:.3f} %, target <= 0.5 %); {len(nulls)} null models"
    )
    print(
        f"{'queries':>8} {'surrogate':<24}{'train agr':>10}{'macro fid':>10}{'marks':>7}"
        f"{'matched':>8}{'controls':>9}{'p-value':>11}{'indep. p':>10}"
    )
    for t in thieves:
        e = t["evidence"]
        print(
            f"{t['queries']:>8} {t['surrogate']:<24}{t['train_agreement']:>10.4f}"
            f"{t['fidelity']['macro_agreement']:>10.3f}{e['queries']:>7}{e['matches']:>8}"
            f"{e['control_disagreements']:>4}/{e['controls']:<4}{e['p_value']:>11.3g}"
            f"{t['independent_model_evidence']['p_value']:>10.3g}"
        )
    results["seconds"] = time.time() - t_start

    RESULTS.write_text(json.dumps(results, indent=2, default=float))
    _plot(hardening, budgets)
    print(
        f"\nwrote {RESULTS.relative_to(ROOT)} and {PLOT.relative_to(ROOT)} "
        f"in {results['seconds']:.0f} s"
    )


def _mean_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Average fidelity over seeds, point by point; keep the single runs."""
    keys = ("agreement", "failure_agreement", "macro_agreement", "surrogate_f1")
    points = []
    for i, first in enumerate(runs[0]["points"]):
        row = {"budget": first["budget"], "queries": first["queries"]}
        for k in keys:
            values = [r["points"][i][k] for r in runs]
            row[k] = float(np.mean(values))
            row[f"{k}_min"] = float(np.min(values))
            row[f"{k}_max"] = float(np.max(values))
        points.append(row)
    alarms = [r["alarm_at"] for r in runs]
    return {
        "points": points,
        "seeds": len(runs),
        "alarm_at": None if all(a is None for a in alarms) else alarms,
        "runs": runs,
    }


def _hardening_effect(hardening: dict[str, Any], budgets: tuple[int, ...]) -> dict[str, Any]:
    """Fidelity drop at 300 queries and the queries a tier needs to match full at 300."""

    def curve(name: str, key: str) -> dict[int, float]:
        return {p["budget"]: p[key] for p in hardening[name]["points"]}

    full_macro = curve("equation-solving/full", "macro_agreement")
    full_fail = curve("equation-solving/full", "failure_agreement")
    out: dict[str, Any] = {}
    for tier in (OutputTier.TOP_K, OutputTier.ROUNDED, OutputTier.REVERSE_SIGMOID):
        macro = curve(f"equation-solving/{tier.value}", "macro_agreement")
        fail = curve(f"equation-solving/{tier.value}", "failure_agreement")
        reach = next((b for b in budgets if macro.get(b, 0.0) >= full_macro[300]), None)
        out[tier.value] = {
            "macro_drop_pp_at_300": 100 * (full_macro[300] - macro[300]),
            "failure_drop_pp_at_300": 100 * (full_fail[300] - fail[300]),
            "queries_to_match_full_300": reach,
            "macro_drop_pp": {b: 100 * (full_macro[b] - macro[b]) for b in full_macro},
            "failure_drop_pp": {b: 100 * (full_fail[b] - fail[b]) for b in full_fail},
            "cost_factor": None if reach is None else reach / 300,
        }
    return out


def _plot(hardening: dict[str, Any], budgets: tuple[int, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, attack in zip(axes, ("equation-solving", "knockoff"), strict=True):
        for name, run_ in hardening.items():
            if name.startswith(attack):
                pts = run_["points"]
                ax.plot(
                    [p["queries"] for p in pts],
                    [p["macro_agreement"] for p in pts],
                    marker="o",
                    label=name.split("/")[1],
                )
        ax.set_xscale("log")
        ax.set_title(f"{attack}: surrogate fidelity vs queries")
        ax.set_xlabel("queries")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("macro agreement with the victim")
    axes[1].legend(title="output tier")
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)


if __name__ == "__main__":
    main()
