"""The report's verdict: each sentence follows from the figures, on both sides of each threshold."""

from __future__ import annotations

from typing import Any

import pytest
from demo_kit import STEP_FIGURES, make_steps, point, step_map
from hypothesis import given
from hypothesis import strategies as st

from edgeshield.demo import StepRecord
from edgeshield.demo._prices import prices
from edgeshield.demo._verdict import (
    AGREEMENT_MARGIN,
    F1_MARGIN,
    Effect,
    extraction_outcome,
    headline,
    poisoning_outcome,
    response_phrase,
    stolen_copy_outcome,
    suspension_outcome,
    tally,
    thief_outcome,
    unlicensed_outcome,
    verdict,
)


class TestResponsePhrase:
    def test_no_429_means_no_throttle_claim(self) -> None:
        text = response_phrase(75, 0, 50)
        assert "throttl" not in text
        assert "429" not in text
        assert "received 75 queries" in text
        assert "refused once it held 50 answers" in text

    def test_throttled_requests_are_counted(self) -> None:
        text = response_phrase(75, 3, None)
        assert "3 requests delayed by 429" in text
        assert "refused" not in text

    def test_detected_but_not_acted_on(self) -> None:
        assert response_phrase(75, 0, None).endswith("; neither throttled nor refused")

    def test_not_detected(self) -> None:
        text = response_phrase(None, 0, None)
        assert text == "not detected by PRADA"


class TestPoisoning:
    @pytest.mark.parametrize(
        ("robust", "plain", "effect"),
        [
            (0.48, 0.20, Effect.REDUCED),
            (0.48, 0.48 - F1_MARGIN - 0.001, Effect.REDUCED),
            (0.48, 0.48 - F1_MARGIN + 0.001, Effect.NO_EFFECT),
            (0.48, 0.48 + F1_MARGIN - 0.001, Effect.NO_EFFECT),
            (0.48, 0.48 + F1_MARGIN + 0.001, Effect.WORSE),
        ],
    )
    def test_effect_follows_the_f1_gap(self, robust: float, plain: float, effect: Effect) -> None:
        figures = {"test": {"f1": robust}, "fedavg": {"test": {"f1": plain}}}
        outcome = poisoning_outcome(figures, attack="sign-flip")
        assert outcome.effect is effect
        assert f"{plain:.3f} (plain FedAvg)" in outcome.without
        if effect is Effect.WORSE:
            assert "plain FedAvg did better, by 2.1 points" in outcome.changed

    def test_without_a_baseline_nothing_is_claimed(self) -> None:
        outcome = poisoning_outcome({"test": {"f1": 0.5}}, attack="sign-flip")
        assert outcome.effect is Effect.NOT_MEASURED


class TestExtraction:
    def test_issue_20_guarded_copy_better_is_worse_not_a_success(self) -> None:
        outcome = extraction_outcome(STEP_FIGURES["serve"])
        assert outcome.effect is Effect.WORSE
        assert "guarded attacker's copy was better, by 2.9 points of macro" in outcome.changed
        assert "throttl" not in outcome.defended  # 0 requests delayed by 429
        assert "refused once it held 50 answers" in outcome.defended
        assert "550 fewer answers" in outcome.changed

    @pytest.mark.parametrize(
        ("guarded", "effect"),
        [
            (0.551 - AGREEMENT_MARGIN - 0.001, Effect.REDUCED),
            (0.551 - AGREEMENT_MARGIN + 0.001, Effect.NO_EFFECT),
            (0.551 + AGREEMENT_MARGIN - 0.001, Effect.NO_EFFECT),
            (0.551 + AGREEMENT_MARGIN + 0.001, Effect.WORSE),
        ],
    )
    def test_effect_follows_the_agreement_gap(self, guarded: float, effect: Effect) -> None:
        serve = {**STEP_FIGURES["serve"], "attacker_points": [point(100, 50, guarded, 0.3)]}
        assert extraction_outcome(serve).effect is effect

    def test_no_usable_answer_is_prevented(self) -> None:
        serve = {**STEP_FIGURES["serve"], "attacker_points": []}
        assert extraction_outcome(serve).effect is Effect.PREVENTED

    def test_no_baseline_is_not_measured(self) -> None:
        serve = {**STEP_FIGURES["serve"], "undefended_points": []}
        assert extraction_outcome(serve).effect is Effect.NOT_MEASURED

    @given(
        guarded=st.floats(0.0, 1.0, allow_nan=False),
        baseline=st.floats(0.0, 1.0, allow_nan=False),
    )
    def test_never_reduced_when_the_guarded_copy_is_as_good(
        self, guarded: float, baseline: float
    ) -> None:
        serve = {
            **STEP_FIGURES["serve"],
            "attacker_points": [point(100, 50, guarded, 0.3)],
            "undefended_points": [point(600, 600, baseline, 0.3)],
        }
        effect = extraction_outcome(serve).effect
        assert (effect is Effect.REDUCED) == (baseline - guarded >= AGREEMENT_MARGIN)
        assert (effect is Effect.WORSE) == (guarded - baseline >= AGREEMENT_MARGIN)


class TestAfterTheFact:
    @pytest.mark.parametrize(
        ("p_value", "effect"), [(9e-4, Effect.IDENTIFIED), (2e-3, Effect.NO_EFFECT)]
    )
    def test_thief_identified_only_below_the_stated_fpr(
        self, p_value: float, effect: Effect
    ) -> None:
        prove = {**STEP_FIGURES["prove"], "api_watermark": {"p_value": p_value}}
        outcome = thief_outcome(STEP_FIGURES["serve"], prove)
        assert outcome.effect is effect
        assert "no PRADA alarm" in outcome.defended
        assert ("identified by the API watermark" in outcome.defended) == (
            effect is Effect.IDENTIFIED
        )

    def test_thief_is_judged_at_the_api_level_not_the_trigger_fpr(self) -> None:
        prove = {
            **STEP_FIGURES["prove"],
            "released": {**STEP_FIGURES["prove"]["released"], "fpr": 1 / 21},
            "api_watermark": {"p_value": 0.01},
            "api_alpha": 1e-3,
        }
        assert thief_outcome(STEP_FIGURES["serve"], prove).effect is Effect.NO_EFFECT

    def test_thief_without_the_proof_step(self) -> None:
        assert thief_outcome(STEP_FIGURES["serve"], None).effect is Effect.NOT_MEASURED

    @pytest.mark.parametrize("owned", [True, False])
    def test_stolen_copy(self, owned: bool) -> None:
        prove = {
            **STEP_FIGURES["prove"],
            "stolen_fine_tuned": {"owned": owned, "p_value": 1e-9 if owned else 0.2},
        }
        outcome = stolen_copy_outcome(prove)
        assert outcome.effect is (Effect.IDENTIFIED if owned else Effect.NO_EFFECT)
        assert outcome.defended.startswith("owned" if owned else "NOT identified")


class TestPrevented:
    @pytest.mark.parametrize(
        ("refusal", "effect"),
        [("LicenceError: other device", Effect.PREVENTED), ("", Effect.NO_EFFECT)],
    )
    def test_unlicensed_gateway(self, refusal: str, effect: Effect) -> None:
        assert unlicensed_outcome({"refusal": refusal}).effect is effect

    @pytest.mark.parametrize(
        ("status", "effect"), [(403, Effect.PREVENTED), (200, Effect.NO_EFFECT)]
    )
    def test_suspension(self, status: int, effect: Effect) -> None:
        outcome = suspension_outcome({"status": status})
        assert outcome.effect is effect
        assert outcome.defended == f"HTTP {status}"


class TestPrices:
    def test_each_protection_has_its_measured_price(self, full_steps: list[StepRecord]) -> None:
        by_name = {p.protection: p for p in prices(step_map(full_steps))}
        robust = by_name["bucketed SecAgg+ and median (against poisoning)"]
        assert robust.f1_points == pytest.approx(28.0)
        assert robust.seconds == pytest.approx(12.0)
        assert robust.gas == 0
        guard = by_name["guard: PRADA, throttle, API watermark"]
        assert guard.f1_points == pytest.approx(-1.0)
        assert "2 of 400 answers differ" in guard.note
        assert by_name["on-chain audit of rounds and ownership commitment"].gas == 3_000_000
        assert by_name["sealed bundle and on-chain licence"].seconds == 5.0
        assert by_name["record-level DP-SGD"].f1_points is None  # no run without DP

    def test_unmeasured_figures_stay_unmeasured(self) -> None:
        steps = step_map(make_steps(serve={**STEP_FIGURES["serve"], "benign_f1_served": None}))
        guard = next(p for p in prices(steps) if p.protection.startswith("guard"))
        assert guard.f1_points is None


class TestHeadline:
    def test_issue_20_run(self, full_steps: list[StepRecord]) -> None:
        result = verdict(step_map(full_steps))
        text = result.headline
        assert [o.effect for o in result.attacks] == [
            Effect.REDUCED,  # poisoning: 0.48 vs 0.20
            Effect.PREVENTED,  # unlicensed gateway
            Effect.WORSE,  # extraction: 0.580 vs 0.551
            Effect.IDENTIFIED,  # thief, API watermark
            Effect.IDENTIFIED,  # stolen copy, trigger set
            Effect.PREVENTED,  # suspension
        ]
        assert text.startswith(
            "This run measured 6 attacks: 2 prevented, 1 reduced, 2 identified afterwards, 1 worse"
            " with defences. Prevented: unlicensed gateway opens the model and use after the"
            " licence"
        )
        assert (
            "Reduced: 1 sign-flip plant(s) in federated training (failure F1 28.0 points higher"
            in text
        )
        assert "Worse with the defences than without: Jacobian extraction" in text
        assert (
            "attributable by the API watermark (p=2e-06); attributable by the trigger-set" in text
        )
        assert "guarded attacker's copy was better" in text
        assert "throttled" not in text
        assert "4,590,000 gas" in text
        assert "+28.0 F1 points for bucketed SecAgg+ and median" in text
        assert "-1.0 F1 points for guard" in text
        assert "Not priced in this run: record-level DP-SGD, trigger-set watermark (WAFFLE" in text

    def test_an_extraction_the_guard_reduced_is_credited(self) -> None:
        serve: dict[str, Any] = {
            **STEP_FIGURES["serve"],
            "attacker_points": [point(100, 50, 0.40, 0.1)],
            "attacker_throttled": 4,
        }
        result = verdict(step_map(make_steps(serve=serve)))
        assert "Reduced: 1 sign-flip plant(s) in federated training" in result.headline
        assert (
            "Jacobian extraction (full-output client) (" not in result.headline.split("Reduced:")[0]
        )
        assert "the copy's macro agreement 15.1 points lower" in result.headline
        assert "Worse" not in result.headline

    def test_no_attack_no_verdict(self) -> None:
        assert headline((), ()) == "No attack ran in this run, so there is no verdict."

    def test_a_run_that_stopped_early_judges_what_ran(self) -> None:
        steps = step_map(make_steps()[:2])
        result = verdict(steps)
        assert [o.attack for o in result.attacks] == ["1 sign-flip plant(s) in federated training"]
        assert "gas" not in result.headline  # no on-chain step ran, nothing was paid
        assert "12 s spent on them" in result.headline  # the median's extra time over FedAvg


def test_tally_counts_each_effect(full_steps: list[StepRecord]) -> None:
    outcomes = verdict(step_map(full_steps)).attacks
    assert tally(outcomes) == (
        "2 prevented, 1 reduced, 2 identified afterwards, 1 worse with defences"
    )
    assert tally(()) == "no attack ran"
