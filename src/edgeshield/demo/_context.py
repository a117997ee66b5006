"""State shared by the demo's steps, and the record each step leaves for the report."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edgeshield.demo._config import DemoConfig
from edgeshield.demo._data import DemoData
from edgeshield.errors import DemoError

if TYPE_CHECKING:
    import httpx
    import pandas as pd

    from edgeshield.federated import FederatedResult
    from edgeshield.guard import GuardStore
    from edgeshield.ledger import (
        Chain,
        FederatedRoundAuditClient,
        ModelLicenceClient,
        ModelRegistryClient,
    )
    from edgeshield.ownership import CommitmentOpening, Envelope, WatermarkKey
    from edgeshield.redteam import Surrogate
    from edgeshield.usecase import FailureClassifier
    from edgeshield.vault import DeviceKey, OwnerKey


def demo_secret(seed: int, purpose: str) -> bytes:
    """A 32-byte secret derived from the demo's seed, so that a demo run is reproducible.

    Demo only: the watermark key and the API-watermark secret decide which triggers and which
    answers are marked, hence the figures; a production deployment draws them with
    :mod:`secrets` (``WatermarkKey.generate()``, ``GuardSettings`` refuses weak secrets).
    """
    return hashlib.sha256(f"edgeshield-demo/{purpose}/{seed}".encode()).digest()


__all__ = ["DemoContext", "DemoState", "Progress", "StepRecord", "demo_secret", "expect", "need"]

Progress = Callable[[str, float], None]
"""Called with a step description and the fraction of the demo done."""

_T = TypeVar("_T")


@dataclass
class StepRecord:
    """One step of the story: what it showed, in one line, and the figures behind it.

    ``gas`` is the gas the run's own accounts spent on chain during the step (``None`` when
    it was not measured), so that the report can state each protection's price in gas.
    """

    key: str
    title: str
    outcome: str
    seconds: float
    figures: dict[str, Any] = field(default_factory=dict)
    gas: int | None = None


@dataclass(kw_only=True)
class DemoState:
    """What the steps hand on to each other: one typed field each, ``None`` until set.

    Why: a typo or a step run out of order is a mypy error or a clear :class:`DemoError`
    (through :func:`need`), not a ``KeyError`` deep in a later step. Resources that must be
    closed (the guard's store, HTTP client and server) are also registered on
    :attr:`DemoContext.resources`; the fields only let later steps use them.
    """

    # before step 1 (edgeshield.demo._chain): the chain, who holds which account, first block
    chain: Chain | None = None
    accounts: dict[str, str] = field(default_factory=dict)
    plant_accounts: tuple[str, ...] = ()
    start_block: int = 0
    # 1 plants (generated AI4I plants, or a file's rows read by its schema)
    data: DemoData | None = None
    # 2 federated training
    key: WatermarkKey | None = None
    envelope: Envelope | None = None
    federated: FederatedResult | None = None
    classifier: FailureClassifier | None = None
    test: pd.DataFrame | None = None
    # 3 on-chain record
    audit: FederatedRoundAuditClient | None = None
    registry: ModelRegistryClient | None = None
    opening: CommitmentOpening | None = None
    model_digest: bytes | None = None
    # 4 release
    owner_key: OwnerKey | None = None
    devices: dict[str, DeviceKey] = field(default_factory=dict)
    bundle: Path | None = None
    licence: str | None = None
    licence_contract: ModelLicenceClient | None = None
    # 5 guarded service
    http: httpx.Client | None = None
    store: GuardStore | None = None
    api_keys: dict[str, str] = field(default_factory=dict)
    surrogate: Surrogate | None = None
    eval_frame: pd.DataFrame | None = None


def need(value: _T | None, name: str) -> _T:
    """``value``, which an earlier step must have set; a clear error if that step did not run."""
    if value is None:
        raise DemoError(f"internal: no {name} from an earlier step")
    return value


@dataclass
class DemoContext:
    """The run's configuration, directory, progress callback, state and open resources.

    ``resources`` closes, in reverse order, everything a step opened (server, client, store)
    when the run ends, however it ends: :func:`~edgeshield.demo.run_demo` holds it in a
    ``with`` block. A caller that runs steps itself closes it (``with ctx.resources:``).
    """

    config: DemoConfig
    run_dir: Path
    progress: Progress
    steps: list[StepRecord] = field(default_factory=list)
    state: DemoState = field(default_factory=DemoState)
    resources: ExitStack = field(default_factory=ExitStack)


def expect(condition: bool, step: str, message: str) -> None:
    """Stop the demo with a clear message when a step's outcome is not the one it must be."""
    if not condition:
        raise DemoError(f"step '{step}' failed: {message}")
