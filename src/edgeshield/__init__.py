"""EdgeShield: security for distributed machine learning, from private training to the edge.

The packages follow the model's chain of custody: ``usecase`` (plant data and the failure
classifier), ``federated`` (Flower training across plants), ``ownership`` (watermarks and
evidence), ``vault`` (sealed bundles), ``guard`` (the protected inference service),
``redteam`` (the attacks that measure every defence) and ``ledger`` (generated contracts).
"""

from __future__ import annotations

from edgeshield.errors import EdgeShieldError

__all__ = ["EdgeShieldError", "__version__"]

__version__ = "0.1.0"
