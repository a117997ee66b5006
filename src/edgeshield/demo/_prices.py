"""The price of each protection in a demo run: F1 points, seconds and gas, where measured.

Why: a verdict that says what the defences stopped must also say what they cost, and only
what the run measured: a protection whose cost needs a run without it (DP, the watermark) is
priced against the run's reference models (:mod:`edgeshield.demo._reference`, issue 14) or,
without them, listed as not measured, never estimated (issue 20).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

__all__ = ["Price", "Rung", "prices", "quality_ladder"]


@dataclass(frozen=True, kw_only=True)
class Price:
    """What one protection cost in the run; ``None`` where the run did not measure it.

    ``f1_points`` is the failure F1 with the protection minus without, in points (negative:
    a cost; positive: a gain, e.g. a robust aggregator under a poisoning attack). ``gas`` is
    0 for a protection that sends no transaction.
    """

    protection: str
    f1_points: float | None
    seconds: float | None
    gas: int | None
    note: str


def _step_price(step: Mapping[str, Any], protection: str) -> Price:
    """A protection that is a whole step: its price is the step's time and gas."""
    return Price(
        protection=protection,
        f1_points=None,
        seconds=step.get("seconds"),
        gas=step.get("gas"),
        note="the step's time and gas",
    )


def prices(steps: Mapping[str, Mapping[str, Any]]) -> tuple[Price, ...]:
    """The price of each protection that ran, from the steps' figures, seconds and gas.

    ``steps`` maps a step key to ``{"figures": ..., "seconds": ..., "gas": ...}``.
    """
    out: list[Price] = []
    fed = steps.get("federated", {}).get("figures")
    if fed:
        plain = fed.get("fedavg")
        out.append(
            Price(
                protection="bucketed SecAgg+ and median (against poisoning)",
                f1_points=None if not plain else 100 * (fed["test"]["f1"] - plain["test"]["f1"]),
                seconds=None
                if not plain or "seconds" not in fed or "seconds" not in plain
                else fed["seconds"] - plain["seconds"],
                gas=0,
                note="F1 and seconds against plain FedAvg under the same attack"
                if plain
                else "no FedAvg baseline in this run",
            )
        )
        ref = _reference(fed)
        if ref is not None:
            out.append(
                Price(
                    protection="federated training (rows stay in the plants)",
                    f1_points=100 * (ref["federated_no_dp"]["f1"] - ref["central"]["f1"]),
                    seconds=None,
                    gas=0,
                    note="reference run without DP and watermark (same attack, buckets, median) "
                    "against central training on the pooled rows, same test rows",
                )
            )
        dp_ref = None if ref is None else ref.get("federated_dp")
        if fed.get("record_epsilon") is not None:
            out.append(
                Price(
                    protection="record-level DP-SGD",
                    f1_points=None
                    if dp_ref is None or ref is None
                    else 100 * (dp_ref["f1"] - ref["federated_no_dp"]["f1"]),
                    seconds=None,
                    gas=0,
                    note=f"ε = {fed['record_epsilon']:.2f} per plant; "
                    + (
                        "no run without DP here, so its F1 cost was not measured "
                        "(--price-protections measures it; benchmarks/demo_dp.py, for AI4I 2020)"
                        if dp_ref is None
                        else "reference runs with and without DP, both without the watermark"
                    ),
                )
            )
        below = None if ref is None else (dp_ref or ref["federated_no_dp"])
        out.append(
            Price(
                protection="trigger-set watermark (WAFFLE at the aggregator)"
                if not fed.get("public_pretraining")
                else "trigger-set watermark (embedded with public pretraining, topped up)",
                f1_points=None if below is None else 100 * (fed["test"]["f1"] - below["f1"]),
                seconds=None,
                gas=0,
                note=f"on {fed['trigger_accuracy']:.0%} of triggers; "
                + (
                    "no unmarked run here, so its F1 cost was not measured (--price-protections "
                    "measures it; benchmarks/pretraining.py does for AI4I 2020)"
                    if below is None
                    else "the released model against the same run without the watermark"
                ),
            )
        )
    for key, protection in (
        ("ledger", "on-chain audit of rounds and ownership commitment"),
        ("release", "sealed bundle and on-chain licence"),
    ):
        step = steps.get(key)
        if step:
            out.append(_step_price(step, protection))
    serve = steps.get("serve", {}).get("figures")
    if serve:
        served, own = serve.get("benign_f1_served"), serve.get("benign_f1_model")
        differs, rows = serve.get("benign_served_differs"), serve.get("benign_rows")
        out.append(
            Price(
                protection="guard: PRADA, throttle, API watermark",
                f1_points=None if served is None or own is None else 100 * (served - own),
                seconds=None,
                gas=0,
                note=f"benign client: {differs} of {rows} answers differ from the model's; "
                "F1 of the served answers against the model's own, on the benign rows",
            )
        )
    for key, protection in (
        ("prove", "ownership proof (null models, tests, reveal)"),
        ("suspend", "on-chain suspension"),
    ):
        step = steps.get(key)
        if step:
            out.append(_step_price(step, protection))
    return tuple(out)


def _reference(fed: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The reference models' figures, if the run trained them and they can be trusted."""
    ref = fed.get("reference")
    if not ref or ref.get("error") or not ref.get("central") or not ref.get("federated_no_dp"):
        return None
    return cast(Mapping[str, Any], ref)


@dataclass(frozen=True, kw_only=True)
class Rung:
    """One model of the price table: its protections, F1 and PR-AUC on the run's test rows.

    ``points_vs_central`` and ``points_vs_previous`` are failure F1 differences in points
    (negative: a cost) against central training and against the row above.
    """

    model: str
    f1: float
    pr_auc: float
    points_vs_central: float
    points_vs_previous: float | None


def quality_ladder(fed: Mapping[str, Any]) -> tuple[Rung, ...]:
    """Central, federated without DP, with DP, and the released model, from one run's figures.

    Empty when the run trained no reference models (or they were refused): the released
    model alone has no price to show.
    """
    ref = _reference(fed)
    if ref is None:
        return ()
    rows: list[tuple[str, Mapping[str, Any]]] = [
        ("central: pooled training rows, no protection", ref["central"]),
        ("federated: SecAgg+ buckets, median, no DP, no watermark", ref["federated_no_dp"]),
    ]
    if ref.get("federated_dp"):
        eps = ref["federated_dp"].get("epsilon")
        label = "+ record-level DP-SGD" + ("" if eps is None else f" (ε = {eps:.2f} per plant)")
        rows.append((label, ref["federated_dp"]))
    rows.append(("+ trigger-set watermark: the released model", fed["test"]))
    central = float(ref["central"]["f1"])
    out: list[Rung] = []
    for model, figures in rows:
        f1 = float(figures["f1"])
        out.append(
            Rung(
                model=model,
                f1=f1,
                pr_auc=float(figures["pr_auc"]),
                points_vs_central=100 * (f1 - central),
                points_vs_previous=None if not out else 100 * (f1 - out[-1].f1),
            )
        )
    return tuple(out)
