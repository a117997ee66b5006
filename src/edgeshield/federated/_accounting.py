"""Epsilon from Opacus's RDP accountant, fed through its public ``step`` method only.

Why: record-level DP-SGD (per plant) and client-level DP (server noise on clipped updates)
both report the Poisson-subsampled Gaussian mechanism's epsilon (Mironov, "Renyi Differential
Privacy", CSF 2017; Mironov, Talwar, Zhang, "Renyi Differential Privacy of the Sampled Gaussian
Mechanism", 2019). Feeding the accountant through :meth:`RDPAccountant.step`, as Opacus's own
optimizer hook does, keeps EdgeShield off the accountant's internal ``history`` layout; the
accountant folds equal consecutive steps into one entry, so the result is the same number as
one ``(sigma, q, steps)`` composition.
"""

from __future__ import annotations

from edgeshield.errors import ConfigError

__all__ = ["rdp_epsilon"]


def rdp_epsilon(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """Epsilon at ``delta`` after ``steps`` sampled Gaussian steps (rate, noise multiplier).

    Why: one place computes every epsilon EdgeShield reports (summary, model card, demo). Zero
    steps spend nothing (0.0), negative ones are a :class:`~edgeshield.errors.ConfigError`; a
    rate above 1 is capped at 1 (every row in every step). A step costs about 0.2 microseconds,
    a million steps a fifth of a second.
    """
    from opacus.accountants import RDPAccountant

    if steps < 0:
        raise ConfigError(f"steps must be >= 0, got {steps}")
    if steps == 0:
        return 0.0
    accountant = RDPAccountant()
    rate = min(sample_rate, 1.0)
    for _ in range(steps):
        accountant.step(noise_multiplier=noise_multiplier, sample_rate=rate)
    return float(accountant.get_epsilon(delta=delta))
