"""The report's verdict, computed from the step figures: attacks, what defences changed, prices.

Why: a headline written apart from the tables drifts from them (issue 20: "detected and
throttled" beside "requests delayed by 429: 0", a defence credited while the guarded
attacker's copy was better). Every sentence here is a pure function of a step's figures, so
the headline, the tables and the dashboard say the same thing, and each threshold is tested
with figures on both sides of it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgeshield.demo._prices import Price, prices

__all__ = [
    "AGREEMENT_MARGIN",
    "F1_MARGIN",
    "AttackOutcome",
    "Effect",
    "Verdict",
    "attacks",
    "dataset_of",
    "extraction_outcome",
    "headline",
    "poisoning_outcome",
    "positive_label",
    "response_phrase",
    "stolen_copy_outcome",
    "suspension_outcome",
    "tally",
    "thief_outcome",
    "unlicensed_outcome",
    "verdict",
]

F1_MARGIN = 0.02
"""Failure-F1 differences smaller than this (2 points) count as no measurable change."""
AGREEMENT_MARGIN = 0.02


def dataset_of(figures: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The run's dataset schema (``name``, ``sha256``, ``positive``) if not AI4I 2020's.

    ``figures`` maps step keys to their figures; the plant step records the schema of a run
    on another schema (an AI4I run, and any run written before, records none).
    """
    plants = figures.get("plants")
    schema = plants.get("schema") if isinstance(plants, Mapping) else None
    return schema if isinstance(schema, Mapping) else None


def positive_label(figures: Mapping[str, Any]) -> str:
    """How the report names the positive class: "failure" for AI4I, else the schema's label."""
    dataset = dataset_of(figures)
    return "failure" if dataset is None else str(dataset.get("positive", "failure"))


"""Surrogate macro-agreement differences smaller than this count as no measurable change."""

Figures = Mapping[str, Any]


class Effect(enum.Enum):
    """What the defences did to one attack, as measured in the run."""

    PREVENTED = "prevented"
    REDUCED = "reduced"
    IDENTIFIED = "not prevented, identified afterwards"
    NO_EFFECT = "no measurable effect"
    WORSE = "attacker did better against the defences"
    NOT_MEASURED = "not measured"


@dataclass(frozen=True, kw_only=True)
class AttackOutcome:
    """One attack: what it achieved without and with defences, and what the defences changed."""

    attack: str
    without: str
    defended: str
    changed: str
    effect: Effect


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The attack table, the price table and the one-paragraph headline built from them."""

    attacks: tuple[AttackOutcome, ...]
    prices: tuple[Price, ...]
    headline: str


def _pp(value: float) -> str:
    return f"{100 * value:+.1f} points"


def _pts(value: float) -> str:
    return f"{100 * value:.1f} points"


def response_phrase(alarm_at: int | None, throttled: int, refused_at: int | None) -> str:
    """What the guard did to an extraction client, saying only what the counts show.

    ``alarm_at`` counts queries the guard received, ``refused_at`` answers the attacker had
    when it was refused: both units are named, because they differ.
    """
    if alarm_at is None:
        detected = "not detected by PRADA"
    else:
        detected = f"detected by PRADA when the guard had received {alarm_at} queries"
    actions = []
    if throttled > 0:
        actions.append(f"{throttled} requests delayed by 429")
    if refused_at is not None:
        actions.append(f"refused once it held {refused_at} answers")
    if not actions:
        return detected + ("; neither throttled nor refused" if alarm_at is not None else "")
    return f"{detected}; " + ", then ".join(actions)


def poisoning_outcome(
    federated: Figures, *, attack: str, positive: str = "failure"
) -> AttackOutcome:
    """The poisoning plant against the robust aggregator, with plain FedAvg as the baseline.

    ``positive`` names the positive class in the F1 (AI4I's "failure" by default).
    """
    robust = float(federated["test"]["f1"])
    baseline = federated.get("fedavg")
    defended = f"{positive} F1 {robust:.3f} (bucketed SecAgg+ and median)"
    if not baseline:
        return AttackOutcome(
            attack=attack,
            without="not run (no FedAvg baseline in this run)",
            defended=defended,
            changed="unknown without a baseline",
            effect=Effect.NOT_MEASURED,
        )
    plain = float(baseline["test"]["f1"])
    gain = robust - plain
    if gain >= F1_MARGIN:
        effect, changed = Effect.REDUCED, f"{positive} F1 {_pts(gain)} higher than plain FedAvg's"
    elif gain <= -F1_MARGIN:
        effect, changed = (
            Effect.WORSE,
            f"plain FedAvg did better, by {_pts(-gain)} of {positive} F1",
        )
    else:
        effect, changed = Effect.NO_EFFECT, f"{positive} F1 {_pp(gain)}, within ±2 points"
    return AttackOutcome(
        attack=attack,
        without=f"{positive} F1 {plain:.3f} (plain FedAvg)",
        defended=defended,
        changed=changed,
        effect=effect,
    )


def extraction_outcome(serve: Figures) -> AttackOutcome:
    """The Jacobian extraction against the guard and against the same model undefended."""
    attack = "Jacobian extraction (full-output client)"
    guarded, baseline = serve.get("attacker_points") or [], serve.get("undefended_points") or []
    response = response_phrase(
        serve.get("attacker_alarm_at"),
        int(serve.get("attacker_throttled") or 0),
        serve.get("attacker_refused_at"),
    )
    if not baseline:
        return AttackOutcome(
            attack=attack,
            without="not run (no undefended baseline in this run)",
            defended=response,
            changed="unknown without a baseline",
            effect=Effect.NOT_MEASURED,
        )
    b = baseline[-1]
    without = f"copy with macro agreement {b['macro_agreement']:.3f} from {b['queries']} answers"
    if not guarded:
        return AttackOutcome(
            attack=attack,
            without=without,
            defended=f"no answer usable for a copy; {response}",
            changed="no copy could be trained",
            effect=Effect.PREVENTED,
        )
    g = guarded[-1]
    defended = (
        f"copy with macro agreement {g['macro_agreement']:.3f} from {g['queries']} answers; "
        + response
    )
    gap = float(b["macro_agreement"]) - float(g["macro_agreement"])
    if gap >= AGREEMENT_MARGIN:
        effect = Effect.REDUCED
        changed = f"the copy's macro agreement {_pts(gap)} lower"
    elif gap <= -AGREEMENT_MARGIN:
        effect = Effect.WORSE
        changed = f"the guarded attacker's copy was better, by {_pts(-gap)} of macro agreement"
    else:
        effect = Effect.NO_EFFECT
        changed = f"macro agreement {_pp(-gap)}, within ±2 points"
    if g["queries"] < b["queries"]:
        changed += f"; {b['queries'] - g['queries']} fewer answers"
    return AttackOutcome(
        attack=attack, without=without, defended=defended, changed=changed, effect=effect
    )


def thief_outcome(serve: Figures, prove: Figures | None) -> AttackOutcome:
    """The label-only thief with natural queries: rarely detectable, identified by the mark."""
    alarm = serve.get("thief_alarm_at")
    queries = serve.get("thief_queries")
    seen = f"PRADA alarm at query {alarm}" if alarm is not None else "no PRADA alarm"
    defended = f"copy trained on {queries} label answers; {seen}"
    api = (prove or {}).get("api_watermark")
    if not api:
        return AttackOutcome(
            attack="natural-query thief (label only)",
            without="not run",
            defended=defended,
            changed="the API watermark test did not run",
            effect=Effect.NOT_MEASURED,
        )
    # The level the proof step itself required of the API watermark (1e-3 before it was
    # recorded), not the trigger-set test's FPR, which a small null population loosens.
    p, alpha = float(api["p_value"]), float((prove or {}).get("api_alpha", 1e-3))
    identified = p <= alpha
    return AttackOutcome(
        attack="natural-query thief (label only)",
        without="not run (without the API watermark no answer carries a mark to test)",
        defended=defended
        + (f"; copy identified by the API watermark (p={p:.2g})" if identified else ""),
        changed=f"attributable by the API watermark (p={p:.2g})"
        if identified
        else f"not identified (p={p:.2g})",
        effect=Effect.IDENTIFIED if identified else Effect.NO_EFFECT,
    )


def stolen_copy_outcome(prove: Figures) -> AttackOutcome:
    """A copy dumped from a gateway and fine-tuned: the trigger-set watermark's test."""
    stolen = prove["stolen_fine_tuned"]
    owned, p = bool(stolen.get("owned")), float(stolen["p_value"])
    return AttackOutcome(
        attack="stolen weights, fine-tuned on a third of a plant",
        without="not run (without the watermark there is nothing to test)",
        defended=("owned" if owned else "NOT identified") + f" by the trigger-set test (p={p:.2g})",
        changed=f"attributable by the trigger-set test (p={p:.2g})"
        if owned
        else "none: the mark did not survive",
        effect=Effect.IDENTIFIED if owned else Effect.NO_EFFECT,
    )


def unlicensed_outcome(serve: Figures) -> AttackOutcome:
    """A second gateway opening the sealed model without a licence of its own."""
    refusal = str(serve.get("refusal") or "")
    return AttackOutcome(
        attack="unlicensed gateway opens the model",
        without="not run (an unsealed file opens anywhere)",
        defended=f"refused ({refusal.split(':')[0]})" if refusal else "opened the model",
        changed="the model did not open" if refusal else "none",
        effect=Effect.PREVENTED if refusal else Effect.NO_EFFECT,
    )


def suspension_outcome(suspend: Figures) -> AttackOutcome:
    """Use of the service after the owner suspended the licence on chain."""
    status = int(suspend.get("status", 0))
    return AttackOutcome(
        attack="use after the licence was suspended on chain",
        without="not run (no licence gate)",
        defended=f"HTTP {status}",
        changed="the service stopped answering" if status == 403 else "the service still answered",
        effect=Effect.PREVENTED if status == 403 else Effect.NO_EFFECT,
    )


def attacks(steps: Mapping[str, Mapping[str, Any]]) -> tuple[AttackOutcome, ...]:
    """Every attack the run measured, in the story's order.

    The training-time attack is the federated step's ``poisoning`` figure (``None``: no
    malicious plant); a run written before that figure existed names it from its FedAvg
    baseline, which only runs under attack.
    """
    figures = {key: step.get("figures") or {} for key, step in steps.items()}
    out: list[AttackOutcome] = []
    fed = figures.get("federated")
    poisoning = None if fed is None else fed.get("poisoning")
    if fed and poisoning is None and fed.get("fedavg"):
        poisoning = "poisoning plant(s)"
    if fed and poisoning is not None:
        out.append(poisoning_outcome(fed, attack=poisoning, positive=positive_label(figures)))
    if "serve" in figures:
        out += [unlicensed_outcome(figures["serve"]), extraction_outcome(figures["serve"])]
        out.append(thief_outcome(figures["serve"], figures.get("prove")))
    if "prove" in figures:
        out.append(stolen_copy_outcome(figures["prove"]))
    if "suspend" in figures:
        out.append(suspension_outcome(figures["suspend"]))
    return tuple(out)


def _names(outcomes: list[AttackOutcome]) -> str:
    names = [o.attack for o in outcomes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_SHORT = {
    Effect.PREVENTED: "prevented",
    Effect.REDUCED: "reduced",
    Effect.IDENTIFIED: "identified afterwards",
    Effect.NO_EFFECT: "no effect",
    Effect.WORSE: "worse with defences",
    Effect.NOT_MEASURED: "not measured",
}


def tally(outcomes: tuple[AttackOutcome, ...]) -> str:
    """The attacks counted by effect, for a one-line listing: "2 prevented, 1 reduced"."""
    if not outcomes:
        return "no attack ran"
    counts = {e: sum(1 for o in outcomes if o.effect is e) for e in Effect}
    return ", ".join(f"{n} {_SHORT[e]}" for e, n in counts.items() if n)


def headline(outcomes: tuple[AttackOutcome, ...], costs: tuple[Price, ...]) -> str:
    """One paragraph: which attacks the defences prevented, reduced, only identified, or not.

    Only the effects in ``outcomes`` are named; the total gas and seconds are sums of the
    measured ``costs`` (an unmeasured figure is left out, and the sentence says so).
    """
    if not outcomes:
        return "No attack ran in this run, so there is no verdict."
    groups: dict[Effect, list[AttackOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.effect, []).append(outcome)
    count = f"{len(outcomes)} attack" + ("s" if len(outcomes) > 1 else "")
    sentences = [f"This run measured {count}: {tally(outcomes)}."]
    phrases = {
        Effect.PREVENTED: "Prevented:",
        Effect.REDUCED: "Reduced:",
        Effect.IDENTIFIED: "Not prevented, but identified afterwards:",
        Effect.NO_EFFECT: "No measurable effect on:",
        Effect.WORSE: "Worse with the defences than without:",
        Effect.NOT_MEASURED: "Not measured:",
    }
    for effect, phrase in phrases.items():
        if effect in groups:
            detail = "; ".join(o.changed for o in groups[effect] if effect is not Effect.PREVENTED)
            text = f"{phrase} {_names(groups[effect])}"
            sentences.append(text + (f" ({detail})." if detail else "."))
    gas = [c.gas for c in costs if c.gas]
    seconds = [c.seconds for c in costs if c.seconds is not None and c.seconds > 0]
    gains = [c for c in costs if c.f1_points is not None]
    price = []
    if gains:
        price.append(", ".join(f"{c.f1_points:+.1f} F1 points for {c.protection}" for c in gains))
    if seconds:
        price.append(f"{sum(seconds):.0f} s spent on them")
    if gas:
        price.append(f"{sum(gas):,} gas")
    unmeasured = [c.protection for c in costs if c.f1_points is None and c.seconds is None]
    text = "Price: " + ("; ".join(price) if price else "not measured") + "."
    if unmeasured:
        text += f" Not priced in this run: {', '.join(unmeasured)}."
    return " ".join([*sentences, text])


def verdict(steps: Mapping[str, Mapping[str, Any]]) -> Verdict:
    """The attack table, the price table and the headline of one run.

    Parameters
    ----------
    steps
        Step key -> ``{"figures": dict, "seconds": float, "gas": int | None}`` (the shape of
        ``result.json``'s steps, and of :class:`~edgeshield.demo.StepRecord` as a dict).
    """
    outcomes = attacks(steps)
    costs = prices(steps)
    return Verdict(attacks=outcomes, prices=costs, headline=headline(outcomes, costs))
