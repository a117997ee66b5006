"""Epsilon through Opacus's public accountant API: the same figures as before, checked two ways.

The reference is computed independently of the accountant object, from Opacus's public RDP
analysis functions (``compute_rdp`` then ``get_privacy_spent`` over the accountant's orders);
the pinned figures are those the earlier code (one ``(sigma, q, steps)`` history entry) gave.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

from edgeshield.errors import ConfigError
from edgeshield.federated import RecordDP, dp_epsilon
from edgeshield.federated._accounting import rdp_epsilon
from edgeshield.federated._release import record_epsilon

# (noise multiplier, sample rate, steps, delta, epsilon of the earlier code, opacus 1.6.0)
PINNED = [
    (1.0, 0.01, 100, 1e-5, 1.2141452107864754),
    (1.1, 0.05, 2000, 1e-5, 14.869737966714924),
    (0.8, 0.2, 7, 1e-6, 8.748421231066578),
    (2.0, 1.0, 50, 1e-5, 22.019852327713252),  # client-level DP: rate 1, one step per round
    (1.0, 0.02, 750, 1e-5, 3.7700152664062143),  # RecordDP defaults, 5 epochs x 50 steps x 3
]


def _independent(sigma: float, rate: float, steps: int, delta: float) -> float:
    orders = RDPAccountant.DEFAULT_ALPHAS
    rdp = compute_rdp(q=rate, noise_multiplier=sigma, steps=steps, orders=orders)
    eps, _ = get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    return float(eps)


@pytest.mark.parametrize(("sigma", "rate", "steps", "delta", "expected"), PINNED)
def test_epsilon_matches_the_earlier_figures_and_opacus_analysis(
    sigma: float, rate: float, steps: int, delta: float, expected: float
) -> None:
    eps = rdp_epsilon(noise_multiplier=sigma, sample_rate=rate, steps=steps, delta=delta)
    assert eps == pytest.approx(expected, rel=1e-12)
    assert eps == pytest.approx(_independent(sigma, rate, steps, delta), rel=1e-12)


# Opacus warns when the best order is at the end of its range (tiny or huge epsilon): a
# tightness hint, the same for both sides of the comparison.
@pytest.mark.filterwarnings("ignore:Optimal order is the:UserWarning")
@settings(max_examples=40, deadline=None)
@given(
    sigma=st.floats(0.5, 5.0),
    rate=st.floats(1e-3, 1.0),
    steps=st.integers(1, 3000),
    delta=st.sampled_from([1e-5, 1e-6, 1e-3]),
)
def test_step_by_step_equals_one_composition(
    sigma: float, rate: float, steps: int, delta: float
) -> None:
    """Feeding the accountant step by step composes exactly like the closed form."""
    eps = rdp_epsilon(noise_multiplier=sigma, sample_rate=rate, steps=steps, delta=delta)
    assert eps == pytest.approx(_independent(sigma, rate, steps, delta), rel=1e-12)


def test_record_level_figures_go_through_the_same_accountant() -> None:
    dp = RecordDP(noise_multiplier=1.0, delta=1e-5)  # sample rate 0.02: 50 steps per epoch
    assert record_epsilon(dp, rounds=3, local_epochs=5) == pytest.approx(PINNED[-1][-1], rel=1e-12)
    assert dp_epsilon(dp, steps=0) == 0.0
    # a rate above one (an attack's override) is every row in every step
    capped = dp_epsilon(dp, steps=50, sample_rate=3.0)
    assert capped == pytest.approx(_independent(1.0, 1.0, 50, 1e-5), rel=1e-12)


def test_more_steps_never_spend_less() -> None:
    """An honest report cannot show a smaller epsilon after more training."""
    figures = [
        rdp_epsilon(noise_multiplier=1.0, sample_rate=0.02, steps=n, delta=1e-5)
        for n in (1, 10, 100, 1000)
    ]
    assert figures == sorted(figures)
    assert figures[0] > 0


def test_negative_steps_are_refused() -> None:
    with pytest.raises(ConfigError, match="steps"):
        rdp_epsilon(noise_multiplier=1.0, sample_rate=0.02, steps=-1, delta=1e-5)
