"""Model ownership: embedding cost, calibrated test, false positives, removal, fingerprints.

Run: ``.venv/bin/python benchmarks/ownership.py [--nulls 99] [--seeds 5] [--fp-keys 30]``

One 5-plant fleet (10,000 rows, 75/25 stratified split). The owner trains the failure MLP
(``--seeds`` seeds), embeds a 50-trigger watermark (:func:`embed_watermark`) and is compared
with the clean model and with a control that gets the same fine-tuning without triggers.
``--nulls`` independent null models (MLPs of three widths, logistic regression, gradient
boosting, random forest; trained on single plants of the owner's fleet and of an independent
fleet) calibrate the test; each null model is also tested leave-one-out against a calibration
on the others (the empirical false-positive rate). The removal suite (:mod:`edgeshield.redteam`)
attacks the marked model with the training rows as the thief's pool; an IPGuard-style
fingerprint is scored by ROC AUC of match rate, attacked copies against null models. WAFFLE:
the federated package's :func:`run_federated` (in-process engine, FedAvg + SecAgg+) with and
without the :func:`waffle_hook` as its ``after_aggregate`` hook. The false-positive audit
(issue 18, :func:`false_positive_audit`) verifies about a hundred never-marked models (the
public AI4I file, the owner's own rows, independent fleets; split and init seeds; three MLP
widths, scikit-learn models, distillation, federated runs with and without DP-SGD) against
``--fp-keys`` fresh owner keys, each with its own calibration on the same null models.

Prints a table and writes ``benchmarks/results/ownership.json`` plus plots
(``docs/img/ownership_null.png``) and an example evidence report
(``benchmarks/results/ownership_evidence/``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy import stats

from edgeshield.ownership import (
    CommitmentOpening,
    EmbedConfig,
    LocalCommitmentLog,
    OwnershipEvidence,
    SensorEnvelope,
    WaffleConfig,
    WatermarkKey,
    calibrate_null,
    derive_triggers,
    embed_watermark,
    fingerprint,
    fingerprint_auc,
    match_fingerprint,
    queries_needed,
    train_null_models,
    trigger_accuracy,
    verify_ownership,
    waffle_hook,
    write_evidence,
)
from edgeshield.redteam import (
    RemovalAttack,
    RemovalKind,
    false_positive_audit,
    removal_suite,
    remove_watermark,
)
from edgeshield.usecase import (
    SENSOR_COLUMNS,
    FleetConfig,
    GeneratorConfig,
    TrainConfig,
    fit_mlp,
    generate,
    labels,
    make_fleet,
    read_uci_csv,
    stratified_split,
    train_classifier,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "img"
FPR = 1e-3
TARGET_P = 1e-6
TRIGGERS = 50


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def metrics(classifier: Any, test: Any) -> dict[str, float]:
    m = classifier.evaluate(test)
    return {"accuracy": m.accuracy, "f1": m.f1}


def central(args: argparse.Namespace, key: WatermarkKey, train: Any, test: Any, env: Any) -> dict:
    triggers = derive_triggers(key, TRIGGERS, envelope=env)
    decoys = derive_triggers(key, TRIGGERS, envelope=env, decoys=True)
    rows = []
    marked_models = []
    for seed in range(args.seeds):
        start = time.perf_counter()
        clean = train_classifier(train, TrainConfig(epochs=args.epochs), seed=seed)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        marked = embed_watermark(
            clean, key, train, envelope=env, config=EmbedConfig(triggers=TRIGGERS, seed=seed)
        )
        embed_s = time.perf_counter() - start
        control = replace(clean, model=__import__("copy").deepcopy(clean.model))
        fit_mlp(
            control.model,
            clean.encoder.transform(train),
            labels(train),
            epochs=EmbedConfig().epochs,
            batch_size=128,
            learning_rate=EmbedConfig().learning_rate,
            seed=seed,
        )
        row = {
            "seed": seed,
            "clean": metrics(clean, test),
            "marked": metrics(marked, test),
            "control": metrics(control, test),
            "trigger_accuracy_clean": trigger_accuracy(clean, triggers),
            "trigger_accuracy_marked": trigger_accuracy(marked, triggers),
            "decoy_failure_rate_marked": float(marked.predict(decoys.frame).mean()),
            "decoy_failure_rate_clean": float(clean.predict(decoys.frame).mean()),
            "train_seconds": train_s,
            "embed_seconds": embed_s,
        }
        rows.append(row)
        marked_models.append((clean, marked))
        log(f"central seed {seed}: {row['clean']} -> {row['marked']}")
    return {"rows": rows, "models": marked_models}


def federated(
    args: argparse.Namespace, key: WatermarkKey, fleet: Any, nulls: dict
) -> tuple[dict, dict[str, Any]]:
    """WAFFLE runs; also returns the plain (never marked) federated models for the FP audit."""
    from edgeshield.federated import Engine, FederatedConfig, run_federated, server_encoder

    names = ("plain", "waffle", "waffle-reference")
    out: dict[str, Any] = {"rounds": args.fl_rounds, "reference_rows": args.reference_rows}
    runs = []
    honest: dict[str, Any] = {}
    for seed in range(args.fl_seeds):
        config = FederatedConfig(rounds=args.fl_rounds, seed=seed)
        encoder = server_encoder(config)
        public = generate(GeneratorConfig(rows=config.reference_rows), seed=4242)
        env = SensorEnvelope.fit(public)
        references = {"waffle": None, "waffle-reference": public.iloc[: args.reference_rows]}
        spent = dict.fromkeys(references, 0.0)

        def timed(
            name: str,
            env: Any = env,
            encoder: Any = encoder,
            spent: dict = spent,
            references: dict = references,
        ) -> Any:
            hook = waffle_hook(
                key,
                encoder=encoder,
                hidden=FederatedConfig().hidden,
                envelope=env,
                config=WaffleConfig(),
                reference=references[name],
            )

            def run(server_round: int, weights: dict) -> dict:
                start = time.perf_counter()
                result = hook(server_round, weights)
                spent[name] += time.perf_counter() - start
                return result

            return run

        row: dict[str, Any] = {"seed": seed}
        classifiers = {}
        for name in names:
            after = None if name == "plain" else timed(name)
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                result = run_federated(
                    config, fleet, tmp, after_aggregate=after, engine=Engine.IN_PROCESS, num_cpus=1
                )
                seconds = time.perf_counter() - start
            classifiers[name] = result.classifier
            row[name] = {"seconds": seconds, "threshold": result.classifier.threshold}
        triggers = derive_triggers(key, TRIGGERS, envelope=env)
        null = calibrate_null(key, nulls, envelope=env, n=TRIGGERS, fpr=FPR)
        test = pd.concat(
            [
                stratified_split(f, test_fraction=config.test_fraction, seed=seed)[1]
                for f in list(fleet.frames.values())[: config.plants]
            ],
            ignore_index=True,
        )
        for name, classifier in classifiers.items():
            verdict = verify_ownership(classifier, key, null=null, fpr=FPR)
            row[name].update(
                {
                    **metrics(classifier, test),
                    "trigger_accuracy": trigger_accuracy(classifier, triggers),
                    "p_value": verdict.p_value,
                    "owned": verdict.owned,
                    "queries_for_1e-6": queries_needed(
                        classifier, key, null=null, target_p=TARGET_P
                    ),
                }
            )
        for name in references:
            row[name]["hook_seconds"] = spent[name]
            row[name]["hook_seconds_over_plain_run"] = spent[name] / row["plain"]["seconds"]
        row["test_rows"] = len(test)
        honest[f"federated/owner-fleet/seed{seed}"] = classifiers["plain"]
        runs.append(row)
        log(f"federated seed {seed}: " + json.dumps(row, default=str))
    out["runs"] = runs
    out["mean"] = {
        name: {
            k: float(np.mean([r[name][k] for r in runs]))
            for k in ("accuracy", "f1", "trigger_accuracy", "hook_seconds_over_plain_run")
            if k in runs[0][name]
        }
        | {"owned": sum(bool(r[name]["owned"]) for r in runs)}
        for name in names
    }
    return out, honest


def honest_zoo(args: argparse.Namespace, owner_train: Any) -> dict[str, Any]:
    """Never-marked models for the false-positive audit (issue 18).

    One per way an honest vendor could train: the public AI4I file (the shipped copy), the
    owner's own fleet rows (same data, other seeds), two independent generated fleets; split
    seeds x init seeds x three MLP widths; scikit-learn models; a model distilled from a clean
    one; a federated run with record-level DP-SGD (the plain federated runs come from
    :func:`federated`).
    """
    from importlib import resources

    from edgeshield.federated import Engine, FederatedConfig, RecordDP, run_federated
    from edgeshield.ownership import NullModelKind, train_null_model

    path = resources.files("edgeshield.usecase").joinpath("data/ai4i2020.csv")
    with resources.as_file(path) as real:
        ai4i = read_uci_csv(real)
    sources = {
        "ai4i": ai4i,
        "owner-fleet": owner_train,
        "fleet-21": make_fleet(FleetConfig(plants=5, total_rows=10_000), seed=21).combined(),
        "fleet-22": make_fleet(FleetConfig(plants=3, total_rows=6_000), seed=22).combined(),
    }
    models: dict[str, Any] = {}
    for source, data in sources.items():
        for split_seed in range(args.fp_split_seeds):
            train = stratified_split(data, seed=split_seed)[0]
            for init_seed in range(args.fp_init_seeds):
                for hidden in ((16,), (32,), (64, 64)):
                    config = TrainConfig(hidden=hidden, epochs=args.fp_epochs)
                    width = "x".join(map(str, hidden))
                    name = f"mlp{width}/{source}/split{split_seed}/init{init_seed}"
                    models[name] = train_classifier(train, config, seed=init_seed)
        for kind in (
            NullModelKind.LOGISTIC,
            NullModelKind.GRADIENT_BOOSTING,
            NullModelKind.RANDOM_FOREST,
        ):
            models[f"{kind.value}/{source}"] = train_null_model(kind, data, seed=5)
        clean = train_classifier(data, TrainConfig(epochs=args.fp_epochs), seed=3)
        distil = RemovalAttack(kind=RemovalKind.DISTILL, data_fraction=0.5, epochs=20)
        models[f"distilled/{source}"] = remove_watermark(clean, distil, data, seed=4)
        log(f"honest models: {len(models)} ({source} done)")
    federation = make_fleet(FleetConfig(plants=3, total_rows=3_000), seed=23)
    dp = RecordDP(noise_multiplier=1.0, max_grad_norm=1.0)
    config = FederatedConfig(plants=3, rounds=args.fl_rounds, record_dp=dp, seed=23)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_federated(config, federation, tmp, engine=Engine.IN_PROCESS, num_cpus=1)
    models["federated/fleet-23/dp-sgd"] = result.classifier
    return models


def plot_null(null: Any, marked_counts: dict[str, int], critical: int | None, path: Path) -> None:
    counts = null.counts()
    names = list(marked_counts)
    fig, ax = plt.subplots(figsize=(8, 0.32 * (len(names) + 2) + 1.2), dpi=110)
    rng = np.random.default_rng(0)
    ax.scatter(counts, rng.uniform(-0.3, 0.3, counts.size), s=14, color="#8a9bb0")
    for i, name in enumerate(names, start=1):
        ax.scatter([marked_counts[name]], [i], s=30, color="#c0392b")
    if critical is not None:
        ax.axvline(critical - 0.5, color="#e67e22", ls="--", lw=1.2)
        ax.text(critical, len(names) + 0.6, f"p <= {FPR:g} from here", fontsize=7, color="#e67e22")
    ax.set_yticks(range(len(names) + 1), [f"{counts.size} null models", *names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-1, TRIGGERS + 1)
    ax.set_xlabel(f"triggers answered with the secret label (of {TRIGGERS})")
    ax.set_title(
        "Trigger agreement: independent null models vs the marked model and attacks", fontsize=9
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nulls", type=int, default=99)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--null-epochs", type=int, default=40)
    parser.add_argument("--fl-rounds", type=int, default=10)
    parser.add_argument("--fl-seeds", type=int, default=3)
    parser.add_argument("--reference-rows", type=int, default=500)
    parser.add_argument("--skip-fl", action="store_true")
    parser.add_argument("--fp-keys", type=int, default=30, help="fresh owner keys in the audit")
    parser.add_argument("--fp-split-seeds", type=int, default=3)
    parser.add_argument("--fp-init-seeds", type=int, default=2)
    parser.add_argument("--fp-epochs", type=int, default=40)
    args = parser.parse_args()
    global FPR  # N null models support no stated FPR below 1/(N+1) (issue 18)
    FPR = max(FPR, 1.0 / (args.nulls + 1))
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    FIGURES.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    key = WatermarkKey.from_bytes(hashlib.sha256(b"edgeshield benchmark owner").digest())
    fleet = make_fleet(FleetConfig(plants=5, total_rows=10_000), seed=0)
    other = make_fleet(FleetConfig(plants=5, total_rows=10_000), seed=7)
    train, test = stratified_split(fleet.combined(), seed=0)
    env = SensorEnvelope.fit(train)

    rng = np.random.default_rng(0)
    box = test.copy()
    for column in SENSOR_COLUMNS:
        box[column] = rng.uniform(test[column].min(), test[column].max(), len(test))
    plausibility = {
        "test_rows_inside_envelope": float(env.contains(test).mean()),
        "uniform_box_points_inside_envelope": float(env.contains(box).mean()),
        "test_rows_in_rare_tail": float(env.is_rare(test).mean()),
    }

    log("central embedding")
    cen = central(args, key, train, test, env)
    clean, marked = cen.pop("models")[0]

    log("null models")
    sources = {f"owner-fleet/{p}": f for p, f in fleet.frames.items()}
    sources |= {f"other-fleet/{p}": f for p, f in other.frames.items()}
    start = time.perf_counter()
    nulls = train_null_models(sources, args.nulls, epochs=args.null_epochs, seed=1000)
    null_seconds = time.perf_counter() - start
    null = calibrate_null(key, nulls, envelope=env, n=TRIGGERS, fpr=FPR)
    pooled, upper, rho = null.model()
    log(f"null: pooled {pooled:.4f} upper {upper:.4f} rho {rho:.3f}")

    log("leave-one-out false positives")
    loo = []
    names = list(nulls)
    for held in names:
        rest = {n: nulls[n] for n in names if n != held}
        loo_fpr = max(FPR, 1.0 / (len(rest) + 1))
        calibration = calibrate_null(key, rest, envelope=env, n=TRIGGERS, fpr=loo_fpr)
        r = verify_ownership(nulls[held], key, null=calibration, fpr=loo_fpr)
        loo.append({"model": held, "matches": r.matches, "p_value": r.p_value, "owned": r.owned})

    log("marked models")
    verdicts = []
    for (c, m), row in zip([(clean, marked)], cen["rows"], strict=False):
        r = verify_ownership(m, key, null=null, fpr=FPR)
        verdicts.append(
            {
                "seed": row["seed"],
                "matches": r.matches,
                "p_value": r.p_value,
                "owned": r.owned,
                "queries_for_1e-6": queries_needed(m, key, null=null, target_p=TARGET_P),
                "clean_p_value": verify_ownership(c, key, null=null, fpr=FPR).p_value,
            }
        )

    def always(frame: Any) -> Any:
        return np.ones(len(frame), dtype=int)

    for controls in (0, 50):
        trivial = verify_ownership(always, key, null=null, fpr=FPR, controls=controls)
        verdicts.append(
            {
                "model": "always predicts failure",
                "controls": controls,
                "matches": trivial.matches,
                "owned": trivial.owned,
            }
        )
    guarded = verify_ownership(marked, key, null=null, fpr=FPR, controls=50)
    verdicts.append(
        {
            "model": "marked, with 50 controls",
            "owned": guarded.owned,
            "control_failure_rate": guarded.control_failure_rate,
        }
    )

    log("removal suite + fingerprint")
    fp = fingerprint(marked, train, n=100, seed=0)
    base = marked.evaluate(test)
    removal = []
    stolen_matches = [match_fingerprint(marked, fp)]
    counts = {"marked (no attack)": verify_ownership(marked, key, null=null).matches}
    for i, attack in enumerate(removal_suite()):
        start = time.perf_counter()
        stolen = remove_watermark(marked, attack, train, seed=100 + i)
        r = verify_ownership(stolen, key, null=null, fpr=FPR)
        m = stolen.evaluate(test)
        fp_match = match_fingerprint(stolen, fp)
        stolen_matches.append(fp_match)
        counts[attack.name] = r.matches
        drop = base.accuracy - m.accuracy
        removal.append(
            {
                "attack": attack.name,
                "matches": r.matches,
                "p_value": r.p_value,
                "detected": r.owned,
                "queries_for_1e-6": queries_needed(stolen, key, null=null, target_p=TARGET_P),
                "accuracy": m.accuracy,
                "f1": m.f1,
                "accuracy_drop_pp": 100 * drop,
                "f1_drop_pp": 100 * (base.f1 - m.f1),
                "fingerprint_match": fp_match,
                "removed_and_kept_accuracy": (not r.owned) and drop <= 0.05,
                "removed_and_kept_f1": (not r.owned) and (base.f1 - m.f1) <= 0.05,
                "seconds": time.perf_counter() - start,
            }
        )
        log(f"{attack.name}: p={r.p_value:.3g} acc={m.accuracy:.4f} fp={fp_match:.2f}")
    independent = [match_fingerprint(p, fp) for p in nulls.values()]
    fingerprint_result = {
        "points": len(fp),
        "stolen_match_rates": stolen_matches,
        "independent_match_rates": independent,
        "roc_auc": fingerprint_auc(stolen_matches, independent),
        "roc_auc_without_distillation": fingerprint_auc(
            [
                s
                for s, row in zip(stolen_matches[1:], removal, strict=True)
                if "distillation" not in row["attack"]
            ]
            + stolen_matches[:1],
            independent,
        ),
    }
    plot_null(null, counts, null.critical_matches(TRIGGERS, FPR), FIGURES / "ownership_null.png")

    fl: dict[str, Any] = {}
    honest_federated: dict[str, Any] = {}
    if not args.skip_fl:
        log("federated (WAFFLE)")
        fl, honest_federated = federated(args, key, fleet, nulls)

    log("false-positive audit: honest models x fresh owner keys")
    start = time.perf_counter()
    honest = honest_zoo(args, train) | honest_federated
    fp_keys = [
        WatermarkKey.from_bytes(hashlib.sha256(f"benchmark audit key {i}".encode()).digest())
        for i in range(args.fp_keys)
    ]
    audit = false_positive_audit(
        honest,
        nulls,
        fp_keys,
        envelope=env,
        fpr=FPR,
        triggers=TRIGGERS,
        probes=300,
        on_key=lambda done, total: log(f"audit key {done}/{total}") if done % 10 == 0 else None,
    )
    fp_audit = audit.as_dict() | {"seconds": time.perf_counter() - start}
    log(
        f"audit: {len(audit.false_owned)} false OWNED of {audit.pairs}; upper"
        f" {audit.rate_upper_95:.4f} vs stated {FPR:g}"
    )

    log("evidence report")
    with tempfile.TemporaryDirectory() as tmp:
        clock_time = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
        store = LocalCommitmentLog(Path(tmp) / "log.jsonl", clock=lambda: clock_time)
        opening = CommitmentOpening.of(
            key, bytes.fromhex(marked.model_digest), "EdgeShield benchmark owner"
        )
        receipt = store.commit(opening.commitment())
    evidence = OwnershipEvidence(
        owner_id=opening.owner_id,
        key_id=key.key_id,
        suspect="the marked model after fine-tuning all layers on 33 % of the data",
        suspect_digest="",
        result=verify_ownership(
            remove_watermark(marked, removal_suite()[3], train, seed=103), key, null=null
        ),
        null_names=null.names,
        receipt=receipt,
        commitment_matches=True,
        created_at=clock_time,
    )
    write_evidence(evidence, RESULTS / "ownership_evidence")

    rows = cen["rows"]
    summary = {
        "accuracy_cost_pp_mean": float(
            np.mean([100 * (r["clean"]["accuracy"] - r["marked"]["accuracy"]) for r in rows])
        ),
        "f1_cost_pp_mean": float(
            np.mean([100 * (r["clean"]["f1"] - r["marked"]["f1"]) for r in rows])
        ),
        "accuracy_cost_vs_control_pp_mean": float(
            np.mean([100 * (r["control"]["accuracy"] - r["marked"]["accuracy"]) for r in rows])
        ),
        "f1_cost_vs_control_pp_mean": float(
            np.mean([100 * (r["control"]["f1"] - r["marked"]["f1"]) for r in rows])
        ),
        "null_models": len(nulls),
        "null_pooled_agreement": pooled,
        "null_upper_agreement": upper,
        "null_overdispersion": rho,
        "empirical_false_positives": sum(x["owned"] for x in loo),
        # one-sided 95 % Clopper-Pearson bound on the rate of honest models called OWNED
        "false_owned_upper_95": float(
            stats.beta.ppf(
                0.95, sum(x["owned"] for x in loo) + 1, len(loo) - sum(x["owned"] for x in loo)
            )
        ),
        "smallest_null_p_value": min(x["p_value"] for x in loo),
        "stated_fpr": FPR,
        "queries_for_1e-6": verdicts[0]["queries_for_1e-6"],
        "successful_removals_accuracy_rule": [
            r["attack"] for r in removal if r["removed_and_kept_accuracy"]
        ],
        "successful_removals_f1_rule": [r["attack"] for r in removal if r["removed_and_kept_f1"]],
        "fingerprint_roc_auc": fingerprint_result["roc_auc"],
        "audit_pairs": audit.pairs,
        "audit_false_owned": len(audit.false_owned),
        "audit_upper_95": audit.rate_upper_95,
        "audit_holds": audit.holds,
    }
    if fl:
        for name in ("waffle", "waffle-reference"):
            mean, plain = fl["mean"][name], fl["mean"]["plain"]
            summary[f"{name}_accuracy_cost_pp"] = 100 * (plain["accuracy"] - mean["accuracy"])
            summary[f"{name}_f1_cost_pp"] = 100 * (plain["f1"] - mean["f1"])
            summary[f"{name}_overhead"] = mean["hook_seconds_over_plain_run"]
            summary[f"{name}_owned_runs"] = f"{mean['owned']}/{len(fl['runs'])}"
    result = {
        "benchmark": "ownership",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": 2},
        "args": vars(args),
        "triggers": TRIGGERS,
        "key_id": key.key_id,
        "plausibility": plausibility,
        "summary": summary,
        "central": rows,
        "null": {
            "names": list(null.names),
            "counts": null.counts().tolist(),
            "seconds": null_seconds,
        },
        "leave_one_out": loo,
        "verdicts": verdicts,
        "removal": removal,
        "fingerprint": fingerprint_result,
        "federated": fl,
        "false_positive_audit": fp_audit,
        "seconds": time.perf_counter() - started,
    }
    (RESULTS / "ownership.json").write_text(json.dumps(result, indent=2, default=str))

    report(rows, nulls, null, loo, summary, verdicts, removal, fingerprint_result, fl)


def report(
    rows: list[dict],
    nulls: dict,
    null: Any,
    loo: list[dict],
    summary: dict,
    verdicts: list[dict],
    removal: list[dict],
    fingerprint_result: dict,
    fl: dict,
) -> None:
    pooled, upper, rho = null.model()
    print("\nCentral embedding (test rows: 2,500)")
    head = (
        "seed",
        "clean acc",
        "marked acc",
        "control acc",
        "clean F1",
        "marked F1",
        "trig",
        "decoy",
    )
    print(" ".join(f"{h:>11}" for h in head))
    for r in rows:
        cells = (
            r["seed"],
            r["clean"]["accuracy"],
            r["marked"]["accuracy"],
            r["control"]["accuracy"],
            r["clean"]["f1"],
            r["marked"]["f1"],
            r["trigger_accuracy_marked"],
            r["decoy_failure_rate_marked"],
        )
        print(" ".join(f"{c:>11.4f}" if isinstance(c, float) else f"{c:>11}" for c in cells))
    print(f"\nNull: {len(nulls)} models, agreement {pooled:.4f} (upper {upper:.4f}, rho {rho:.3f})")
    print(
        f"leave-one-out false positives {summary['empirical_false_positives']}/{len(loo)}"
        f" at FPR {FPR:g}; smallest null p {summary['smallest_null_p_value']:.3g}"
    )
    print(f"Marked model: {verdicts[0]}")
    head = ("matches", "p-value", "det", "acc", "dacc pp", "dF1 pp", "fp")
    print(f"\n{'attack':<42} " + " ".join(f"{h:>8}" for h in head))
    for r in removal:
        cells = (
            f"{r['matches']:>8}",
            f"{r['p_value']:>8.2g}",
            f"{'yes' if r['detected'] else 'NO':>8}",
            f"{r['accuracy']:>8.4f}",
            f"{r['accuracy_drop_pp']:>8.2f}",
            f"{r['f1_drop_pp']:>8.2f}",
            f"{r['fingerprint_match']:>8.2f}",
        )
        print(f"{r['attack']:<42} " + " ".join(cells))
    print(f"\nFingerprint ROC AUC (copies vs null models): {fingerprint_result['roc_auc']:.3f}")
    if fl:
        for run in fl["runs"]:
            for name in ("plain", "waffle", "waffle-reference"):
                print(f"federated seed {run['seed']} {name}: " + json.dumps(run[name], default=str))
    print(f"\nSummary: {json.dumps(summary, indent=1)}")


if __name__ == "__main__":
    main()
