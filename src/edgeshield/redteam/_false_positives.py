"""False-positive audit of the ownership test: honest models against many fresh owner keys.

Why (issue 18): an ownership claim stands in a dispute only if a wrong accusation is rarer than
the stated false-positive rate, whatever the honest party did. The audit calibrates one null
distribution per key (the same null models, the key's own triggers) and verifies every honest
model against it; the count of false OWNED verdicts is compared with the stated rate by a
one-sided binomial test and bounded by a one-sided Clopper-Pearson interval. Pairs that share a
model are not independent (a model that fires on triggers in general fires for many keys), so
the audit also reports, per model, how many keys accused it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

from edgeshield.errors import ConfigError
from edgeshield.ownership import (
    Envelope,
    SensorEnvelope,
    Suspect,
    WatermarkKey,
    calibrate_null,
    verify_ownership,
)

__all__ = ["FalseOwned", "FalsePositiveAudit", "false_positive_audit"]


@dataclass(frozen=True, kw_only=True)
class FalseOwned:
    """One honest model declared OWNED under one key."""

    key_index: int
    model: str
    matches: int
    p_value: float


@dataclass(frozen=True, kw_only=True)
class FalsePositiveAudit:
    """The outcome of an audit grid: honest models by owner keys at one stated rate.

    Attributes
    ----------
    pairs
        Honest model and key pairs tested.
    false_owned
        Every pair declared OWNED (each one a wrong accusation).
    rate_upper_95
        One-sided 95 % Clopper-Pearson upper bound on the false-OWNED rate (pairs taken as
        independent trials).
    binomial_tail
        ``P[X >= observed]`` for ``X ~ Binomial(pairs, stated_fpr)``: below 0.01 the observed
        count is inconsistent with the stated rate.
    smallest_p_value
        The smallest p-value any honest model received (never below the calibration's floor).
    models_accused
        Distinct honest models accused under at least one key.
    """

    stated_fpr: float
    keys: int
    models: tuple[str, ...]
    null_models: int
    pairs: int
    false_owned: tuple[FalseOwned, ...]
    smallest_p_value: float

    @property
    def rate(self) -> float:
        return len(self.false_owned) / self.pairs

    @property
    def rate_upper_95(self) -> float:
        k = len(self.false_owned)
        return 1.0 if k == self.pairs else float(stats.beta.ppf(0.95, k + 1, self.pairs - k))

    @property
    def binomial_tail(self) -> float:
        k = len(self.false_owned)
        return float(stats.binom.sf(k - 1, self.pairs, self.stated_fpr)) if k else 1.0

    @property
    def models_accused(self) -> tuple[str, ...]:
        return tuple(sorted({f.model for f in self.false_owned}))

    @property
    def holds(self) -> bool:
        """Whether the 95 % upper bound on the false-OWNED rate is at most the stated rate."""
        return self.rate_upper_95 <= self.stated_fpr

    def as_dict(self) -> dict[str, object]:
        return {
            "stated_fpr": self.stated_fpr,
            "keys": self.keys,
            "models": list(self.models),
            "null_models": self.null_models,
            "pairs": self.pairs,
            "false_owned": [vars(f) for f in self.false_owned],
            "rate": self.rate,
            "rate_upper_95": self.rate_upper_95,
            "binomial_tail": self.binomial_tail,
            "models_accused": list(self.models_accused),
            "smallest_p_value": self.smallest_p_value,
            "holds": self.holds,
        }


def false_positive_audit(
    honest: Mapping[str, Suspect],
    nulls: Mapping[str, Suspect],
    keys: Sequence[WatermarkKey],
    *,
    envelope: Envelope,
    fpr: float,
    triggers: int = 50,
    probes: int = 100,
    controls: int = 10,
    on_key: Callable[[int, int], None] | None = None,
) -> FalsePositiveAudit:
    """Verify every honest model against every key's calibration; count false OWNED verdicts.

    ``on_key`` is called with the number of keys done and the total (progress for long grids).
    ``controls`` apply to AI4I's physics envelope only (another schema's has none).

    Raises
    ------
    ConfigError
        No honest model or key is given, or ``fpr`` needs more null models than given.
    """
    if not honest or not keys:
        raise ConfigError("the audit needs at least one honest model and one key")
    false_owned: list[FalseOwned] = []
    smallest = 1.0
    controls = controls if isinstance(envelope, SensorEnvelope) else 0
    for i, key in enumerate(keys):
        null = calibrate_null(key, nulls, envelope=envelope, n=triggers, probes=probes, fpr=fpr)
        for name, suspect in honest.items():
            result = verify_ownership(suspect, key, null=null, fpr=fpr, controls=controls)
            smallest = min(smallest, result.p_value)
            if result.owned:
                false_owned.append(
                    FalseOwned(
                        key_index=i, model=name, matches=result.matches, p_value=result.p_value
                    )
                )
        if on_key is not None:
            on_key(i + 1, len(keys))
    return FalsePositiveAudit(
        stated_fpr=fpr,
        keys=len(keys),
        models=tuple(honest),
        null_models=len(nulls),
        pairs=len(keys) * len(honest),
        false_owned=tuple(false_owned),
        smallest_p_value=smallest,
    )
