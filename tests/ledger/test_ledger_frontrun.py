"""Issue 17, finding 2: a front-runner who copies the ownership commitment cannot open it.

The commitment the owner sends is ``keccak(keccak(key digest, model digest, salt), msg.sender,
address(this), block.chainid)`` and ``reveal`` recomputes it with the caller, the registry and
the chain. The attacker watches the mempool: it registers the same model digest in its own
registry, copies the commit hash ordered before the owner's, then copies the reveal ordered
before the owner's. Its registry shows the copied hash, but the reveal reverts; the owner's
goes through. Runs on the embedded chain and on a Hardhat node.
"""

from __future__ import annotations

import pytest
from ledger_kit import OWNER, STRANGER

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import Chain, CompilerConfig, ModelRegistryClient

MODEL, KEY, SALT = b"\x42" * 32, b"\x07" * 32, b"\x09" * 32


def _front_run(chain: Chain, compiler: CompilerConfig) -> None:
    owner, attacker = chain.accounts[OWNER], chain.accounts[STRANGER]
    honest = ModelRegistryClient.create(chain, owner=owner, compiler=compiler)
    copy = ModelRegistryClient.create(chain, owner=attacker, compiler=compiler)
    honest.register(MODEL, "ipfs://card")
    copy.register(MODEL, "ipfs://card")  # the digest is public once the owner's tx is seen
    bound = honest.bound_commitment(ModelRegistryClient.commitment_of(KEY, MODEL, SALT))
    copy.commit(bound)  # the attacker's copy is ordered first
    honest.commit(bound)
    assert copy.commitment == honest.commitment == bound
    assert copy.committed_at <= honest.committed_at
    # the reveal's inputs are public in the mempool: the copied reveal is ordered first
    with pytest.raises(ContractRevertError, match="guard `keccak") as info:
        copy.reveal(KEY, SALT)
    assert info.value.error_name == "GuardFailed"
    assert copy.state() == "Committed"
    # the attacker cannot open the owner's commitment in the owner's registry either
    with pytest.raises(ContractRevertError, match="needs role owner"):
        honest.reveal(KEY, SALT, sender=attacker)
    honest.reveal(KEY, SALT)
    assert honest.state() == "Revealed"
    assert honest.watermark_key_digest == KEY


def _bound_to_the_committer(chain: Chain, compiler: CompilerConfig) -> None:
    """A new owner cannot open the previous owner's commitment (two-step transfer first)."""
    owner, heir = chain.accounts[OWNER], chain.accounts[STRANGER]
    registry = ModelRegistryClient.create(chain, owner=owner, compiler=compiler)
    registry.register(MODEL, "ipfs://card")
    registry.commit(registry.bound_commitment(ModelRegistryClient.commitment_of(KEY, MODEL, SALT)))
    registry.transfer_ownership(heir)
    assert registry.owner == owner  # nothing moves until the heir accepts
    registry.accept_ownership(sender=heir)
    with pytest.raises(ContractRevertError, match="guard `keccak"):
        registry.reveal(KEY, SALT, sender=heir)


def test_front_run_copy_cannot_be_opened(chain: Chain, compiler: CompilerConfig) -> None:
    _front_run(chain, compiler)


def test_commitment_is_bound_to_the_committer(chain: Chain, compiler: CompilerConfig) -> None:
    _bound_to_the_committer(chain, compiler)


@pytest.mark.slow
def test_front_run_on_hardhat(hardhat_url: str, compiler: CompilerConfig) -> None:
    chain = Chain.connect(hardhat_url)
    _front_run(chain, compiler)
    _bound_to_the_committer(chain, compiler)
