"""The demo's chain and who holds which account on it, checked before the long training.

Why: on a JSON-RPC node the demo signs with accounts the user supplies; a wrong URL, too few
keys or an unfunded account must stop the run before minutes of training, not at step 3.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeshield.demo._config import DemoConfig
from edgeshield.demo._steps_release import PREPAID_USES, PRICE_PER_USE_WEI
from edgeshield.errors import ChainError, ConfigError
from edgeshield.ledger import Chain

__all__ = ["ROLES", "DemoLedger", "accounts_needed", "open_chain"]

ROLES = ("owner", "licensee", "device_a", "device_b")
"""The accounts the demo needs besides the plants', in the order the keys are given."""


@dataclass(frozen=True, kw_only=True)
class DemoLedger:
    """A chain the demo can use, its role accounts, and the block the run starts from."""

    chain: Chain
    roles: dict[str, str]
    plants: tuple[str, ...]
    start_block: int


def accounts_needed(config: DemoConfig) -> int:
    """Owner, licensee, two gateways, then one account per plant."""
    return len(ROLES) + config.plants


def _check_funds(chain: Chain, roles: dict[str, str], plants: tuple[str, ...]) -> None:
    """Every account that sends a transaction must hold ether; the licensee its prepayment."""
    need = {
        roles["owner"]: 1,
        roles["licensee"]: PRICE_PER_USE_WEI * PREPAID_USES + 1,
        **dict.fromkeys(plants, 1),
    }
    poor = [
        f"{address} holds {balance} wei, needs at least {wei}"
        for address, wei in need.items()
        if (balance := chain.balance(address)) < wei
    ]
    if poor:
        raise ChainError(f"{chain.label}: unfunded demo account(s): {'; '.join(poor)}")


def open_chain(config: DemoConfig) -> DemoLedger:
    """The embedded chain, or the node at ``config.rpc_url`` once it proved usable.

    The accounts are, in order, the owner (also the federated aggregator), the licensee,
    gateway-a's and gateway-b's device accounts, then one per plant: the node's unlocked
    accounts, or ``config.private_keys`` in that order (signed here).

    Raises
    ------
    ConfigError
        Keys without a node, a malformed URL or key, or fewer accounts than the demo needs.
    ChainError
        The node cannot be reached, cannot report its pending block's time (the licence
        gate's clock), or an account that must pay holds too little ether.
    """
    needed = accounts_needed(config)
    if config.rpc_url is None:
        if config.private_keys:
            raise ConfigError("private keys are only used with an rpc_url (a JSON-RPC node)")
        chain = Chain.embedded(accounts=max(10, needed))
    else:
        chain = Chain.connect(config.rpc_url, private_keys=config.private_keys)
        if len(chain.accounts) < needed:
            source = (
                f"{len(config.private_keys)} private key(s)"
                if config.private_keys
                else f"{len(chain.accounts)} unlocked account(s) on {chain.label}"
            )
            raise ConfigError(
                f"the demo with {config.plants} plants needs {needed} accounts (owner, licensee, "
                f"two gateways, one per plant), got {source}"
            )
    accounts = chain.accounts
    roles: dict[str, str] = dict(zip(ROLES, accounts, strict=False))
    plants = tuple(accounts[len(ROLES) : needed])
    try:
        chain.next_timestamp()
        start_block = int(chain.w3.eth.block_number)
    except Exception as exc:
        raise ChainError(f"{chain.label}: cannot read the pending block: {exc}") from exc
    _check_funds(chain, roles, plants)
    return DemoLedger(chain=chain, roles=roles, plants=plants, start_block=start_block)
