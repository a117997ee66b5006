"""Attacks that measure every EdgeShield defence.

Model extraction against the guard's HTTP API (:func:`run_extraction` with an
:class:`AttackKind`: Knockoff-style natural queries, Papernot's Jacobian augmentation, equation
solving on exposed probabilities), through a real :class:`GuardClient`, in the served schema's
request space (:class:`AttackSpace`); fidelity measured class-balanced (:func:`fidelity`).
Poisoning by malicious plants (:class:`SignFlip`, :class:`ModelReplacement`,
:class:`LabelFlip`, :class:`Backdoor`) for the federated defences;
a membership-inference audit (:func:`membership_audit`: loss threshold and LiRA), and one on
what plants send besides the model (:func:`release_membership_game`); the ownership test's
false-positive audit over honest models and fresh keys (:func:`false_positive_audit`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any

from edgeshield.redteam._client import ApiAnswers, GuardClient, ServiceRefusedError
from edgeshield.redteam._extraction import (
    AttackKind,
    ExtractionConfig,
    ExtractionPoint,
    ExtractionReport,
    Fidelity,
    fidelity,
    run_extraction,
)
from edgeshield.redteam._false_positives import (
    FalseOwned,
    FalsePositiveAudit,
    false_positive_audit,
)
from edgeshield.redteam._filtering import cross_validated_keep, two_key_keep
from edgeshield.redteam._poisoning import (
    Backdoor,
    LabelFlip,
    ModelReplacement,
    SignFlip,
    add_trigger,
    backdoor_success_rate,
)
from edgeshield.redteam._removal import (
    RemovalAttack,
    RemovalKind,
    RemovalOutcome,
    removal_suite,
    remove_watermark,
    run_removal_suite,
)
from edgeshield.redteam._space import AttackSpace, default_space
from edgeshield.redteam._surrogate import Surrogate, attacker_features, fit_surrogate

if _TYPE_CHECKING:
    from edgeshield.redteam._membership import (
        AttackScore,
        MembershipAuditConfig,
        MembershipReport,
        membership_audit,
    )
    from edgeshield.redteam._release_mia import (
        ReleaseGameConfig,
        release_membership_game,
        release_membership_score,
    )

# The membership attacks train with the federated stack (Flower, Opacus: edgeshield[vendor]);
# they load on first use, so a gateway's `guard attack` or `guard serve` never needs them.
_LAZY = {
    "AttackScore": "_membership",
    "MembershipAuditConfig": "_membership",
    "MembershipReport": "_membership",
    "membership_audit": "_membership",
    "ReleaseGameConfig": "_release_mia",
    "release_membership_game": "_release_mia",
    "release_membership_score": "_release_mia",
}


def __getattr__(name: str) -> Any:
    """Load a membership-attack name from its module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ApiAnswers",
    "AttackKind",
    "AttackScore",
    "AttackSpace",
    "Backdoor",
    "ExtractionConfig",
    "ExtractionPoint",
    "ExtractionReport",
    "FalseOwned",
    "FalsePositiveAudit",
    "Fidelity",
    "GuardClient",
    "LabelFlip",
    "MembershipAuditConfig",
    "MembershipReport",
    "ModelReplacement",
    "ReleaseGameConfig",
    "RemovalAttack",
    "RemovalKind",
    "RemovalOutcome",
    "ServiceRefusedError",
    "SignFlip",
    "Surrogate",
    "add_trigger",
    "attacker_features",
    "backdoor_success_rate",
    "cross_validated_keep",
    "default_space",
    "false_positive_audit",
    "fidelity",
    "fit_surrogate",
    "membership_audit",
    "release_membership_game",
    "release_membership_score",
    "removal_suite",
    "remove_watermark",
    "run_extraction",
    "run_removal_suite",
    "two_key_keep",
]
