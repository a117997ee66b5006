"""The demonstrator's scenario: seven steps, each run, checked, and recorded for the report."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeshield.demo._chain import open_chain
from edgeshield.demo._config import DemoConfig
from edgeshield.demo._context import DemoContext, DemoState, Progress, StepRecord
from edgeshield.demo._reference import ReferenceRuns
from edgeshield.demo._steps_proof import step_prove, step_suspend
from edgeshield.demo._steps_release import step_release, step_serve
from edgeshield.demo._steps_training import step_federated, step_ledger_record, step_plants
from edgeshield.errors import DemoError, EdgeShieldError
from edgeshield.ledger import Chain

logger = logging.getLogger(__name__)

__all__ = ["STEPS", "DemoResult", "run_demo"]

_REFERENCE_WAIT = 600.0
"""Seconds the demo waits, after its last step, for the reference models before it gives up."""

STEPS: tuple[Callable[[DemoContext], StepRecord], ...] = (
    step_plants,
    step_federated,
    step_ledger_record,
    step_release,
    step_serve,
    step_prove,
    step_suspend,
)
"""The chain of custody, in order; each step checks its own outcome."""


@dataclass
class DemoResult:
    """Everything the demo measured, for the summary and the report."""

    config: DemoConfig
    run_dir: Path
    steps: list[StepRecord]
    seconds: float
    chain_events: list[dict[str, Any]] = field(default_factory=list)
    failed: str | None = None


def _chain_events(state: DemoState) -> list[dict[str, Any]]:
    """Every contract event of the run, in block order, for the ledger timeline."""
    events: list[dict[str, Any]] = []
    # From the run's first block: a public node may refuse log queries over its whole history.
    for contract in (state.audit, state.registry, state.licence_contract):
        if contract is None:
            continue
        for event in contract.events(from_block=state.start_block):
            events.append(
                {
                    "contract": type(contract).__name__.removesuffix("Client"),
                    "event": event.name,
                    "block": event.block_number,
                    "tx": event.tx_hash,
                }
            )
    return sorted(events, key=lambda e: (e["block"], e["contract"]))


def _gas_spent(chain: Chain, after_block: int, accounts: set[str]) -> int | None:
    """Gas of the transactions that ``accounts`` sent in the blocks after ``after_block``.

    Why: the report states the price of each on-chain protection in gas; only the run's own
    accounts count, because a shared node's blocks carry other people's transactions too.
    ``None`` when the node cannot say (the run goes on without the figure).
    """
    try:
        latest = int(chain.w3.eth.block_number)
        total = 0
        for number in range(after_block + 1, latest + 1):
            block = chain.w3.eth.get_block(number, full_transactions=True)
            transactions: list[Any] = list(block["transactions"])  # full: dicts, not hashes
            for tx in transactions:
                if str(tx["from"]) in accounts:
                    total += int(chain.w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
    except Exception:  # a node that refuses the queries: no figure, not a failed demo
        logger.warning("gas of the run's transactions could not be read", exc_info=True)
        return None
    return total


def _collect(ctx: DemoContext, reference: ReferenceRuns) -> None:
    """Wait for the reference models; their figures join the federated step's as ``reference``."""
    federated = next((s for s in ctx.steps if s.key == "federated"), None)
    if federated is None or ctx.state.test is None:
        return
    ctx.progress("waiting for the reference models of the price table", 0.99)
    federated.figures["reference"] = reference.collect(ctx.state.test, timeout=_REFERENCE_WAIT)


def run_demo(config: DemoConfig, run_dir: Path, progress: Progress | None = None) -> DemoResult:
    """Run the whole chain of custody; stop at the first step whose outcome is wrong.

    Returns the result even when a step failed (``failed`` names it), so that the report
    shows how far the run got; the caller decides the exit code. With
    ``config.price_protections`` a second process trains the reference models of the price
    table while the steps run; the run waits for it after the last step (that wait counts in
    ``seconds``), and its figures join the federated step's as ``reference``.

    Whatever a step opened (the guard's server thread and port, its HTTP client, its database)
    and the reference process are closed, in reverse order, before this returns or raises,
    also on an unexpected error or ``KeyboardInterrupt``.

    Raises
    ------
    ConfigError, ChainError
        Before any step runs, when the chain cannot serve the demo: an unreachable or
        malformed ``rpc_url``, fewer accounts (keys) than the owner, licensee, two gateways
        and the plants need, or an account that must pay holding too little ether.
    """
    ledger = open_chain(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = DemoState(
        chain=ledger.chain,
        accounts=ledger.roles,
        plant_accounts=ledger.plants,
        start_block=ledger.start_block,
    )
    start = time.perf_counter()
    failed: str | None = None
    with ExitStack() as resources:
        ctx = DemoContext(
            config=config,
            run_dir=run_dir,
            progress=progress or (lambda _s, _d: None),
            state=state,
            resources=resources,
        )
        reference = None
        if config.price_protections:
            reference = ReferenceRuns(config, run_dir)
            resources.callback(reference.close)
        try:
            ours = {*ledger.roles.values(), *ledger.plants}
            for step in STEPS:
                before = int(ledger.chain.w3.eth.block_number)
                record = step(ctx)
                record.gas = _gas_spent(ledger.chain, before, ours)
                ctx.steps.append(record)
        except EdgeShieldError as exc:
            failed = str(exc) if isinstance(exc, DemoError) else f"{type(exc).__name__}: {exc}"
        if reference is not None and failed is None:
            _collect(ctx, reference)
        events = _chain_events(state)
    ctx.progress("done", 1.0)
    result = DemoResult(
        config=config,
        run_dir=run_dir,
        steps=ctx.steps,
        seconds=time.perf_counter() - start,
        chain_events=events,
        failed=failed,
    )
    (run_dir / "result.json").write_text(
        json.dumps(
            {
                "failed": failed,
                "seconds": result.seconds,
                "steps": [
                    {"key": s.key, "title": s.title, "outcome": s.outcome, "seconds": s.seconds,
                     "gas": s.gas, "figures": s.figures}
                    for s in ctx.steps
                ],
                "chain_events": events,
            },
            indent=2,
            default=str,
        )
    )  # fmt: skip
    return result
