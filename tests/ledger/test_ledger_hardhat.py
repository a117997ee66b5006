"""The same contracts on a real JSON-RPC node (Hardhat 2 from npm, 127.0.0.1): same gas.

The node comes from the ``hardhat_url`` fixture in ``tests/conftest.py`` (shared with the
demo's JSON-RPC test).
"""

from __future__ import annotations

import pytest
from ledger_kit import DAY, DEVICE, LICENSEE, PLANT, STRANGER

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    FederatedRoundAuditClient,
    ModelLicenceClient,
    ModelRegistryClient,
)

pytestmark = pytest.mark.slow

MODEL = b"\x42" * 32


def _scenario(chain: Chain, compiler: CompilerConfig) -> list[tuple[str, int]]:
    """Deploy and exercise all three contracts; return (step, gas used) in order."""
    a = chain.accounts
    gas: list[tuple[str, int]] = []
    registry = ModelRegistryClient.create(chain, compiler=compiler)
    gas.append(("ModelRegistry.deploy", registry.deployed.deploy_gas or 0))
    gas.append(("register", registry.register(MODEL, "ipfs://card").gas_used))
    key, salt = b"\x07" * 32, b"\x09" * 32
    bound = registry.bound_commitment(ModelRegistryClient.commitment_of(key, MODEL, salt))
    gas.append(("commit", registry.commit(bound).gas_used))
    gas.append(("reveal", registry.reveal(key, salt).gas_used))
    gas.append(("transferOwnership", registry.transfer_ownership(a[STRANGER]).gas_used))
    gas.append(("acceptOwnership", registry.accept_ownership().gas_used))

    licence = ModelLicenceClient.create(
        chain,
        licensee=a[LICENSEE],
        device=a[DEVICE],
        model_digest=MODEL,
        price_per_use=5,
        expires_at=2**40,
        compiler=compiler,
    )
    gas.append(("ModelLicence.deploy", licence.deployed.deploy_gas or 0))
    gas.append(("accept", licence.accept(500).gas_used))
    gas.append(("reportUsage", licence.report_usage(3).gas_used))
    gas.append(("suspend", licence.suspend().gas_used))
    gas.append(("resume", licence.resume().gas_used))
    gas.append(("withdraw", licence.withdraw(sender=a[0]).gas_used))
    gas.append(("revoke", licence.revoke().gas_used))

    audit = FederatedRoundAuditClient.create(chain, compiler=compiler)
    gas.append(("FederatedRoundAudit.deploy", audit.deployed.deploy_gas or 0))
    plants = [a[PLANT], a[PLANT + 1]]
    for plant in plants:
        gas.append(("addPlant", audit.add_plant(plant).gas_used))
    identities = FederatedRoundAuditClient.identities_digest(plants)
    gas.append(("commitRound", audit.commit_round(MODEL, 2, identities).gas_used))
    for plant in plants:
        gas.append(("enrol", audit.enrol(plant).gas_used))
    for plant in plants:
        gas.append(("attest", audit.attest(1, sender=plant).gas_used))
    gas.append(("closeRound", audit.close_round().gas_used))
    return gas


def test_same_contracts_same_gas_on_hardhat(hardhat_url: str, compiler: CompilerConfig) -> None:
    remote = Chain.connect(hardhat_url)
    assert remote.accounts[:5] == Chain.embedded().accounts[:5]
    on_hardhat = _scenario(remote, compiler)
    on_pyevm = _scenario(Chain.embedded(), compiler)
    assert on_hardhat == on_pyevm


def test_reverts_decode_the_same_over_json_rpc(hardhat_url: str, compiler: CompilerConfig) -> None:
    chain = Chain.connect(hardhat_url)
    a = chain.accounts
    licence = ModelLicenceClient.create(
        chain,
        licensee=a[LICENSEE],
        device=a[DEVICE],
        model_digest=MODEL,
        price_per_use=5,
        expires_at=chain.next_timestamp() + DAY,
        compiler=compiler,
    )
    with pytest.raises(ContractRevertError, match="needs role licensee") as info:
        licence.accept(10, sender=a[STRANGER])
    assert info.value.error_name == "Unauthorized"
    with pytest.raises(ContractRevertError, match=r"StaleCounter\(7, 0\)"):
        licence.transition("accept", counter=7, value=10)
    with pytest.raises(ContractRevertError, match="without data"):
        licence.transition("suspend", value=1)
    licence.accept(10)
    with pytest.raises(ContractRevertError, match="does not hold"):
        licence.report_usage(0)
    chain.increase_time(2 * DAY)
    assert [e.name for e in licence.tick().events] == ["TimedTransition"]
    assert licence.state() == "Expired"
    assert [e.name for e in licence.events()] == ["Accept", "TimedTransition"]


def test_cli_against_the_node(hardhat_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from edgeshield.cli import run
    from edgeshield.ledger import specs_dir

    spec = str(specs_dir() / "federated_round_audit.yaml")
    assert run(["ledger", "deploy", spec, "--rpc-url", hardhat_url]) == 0
    address = capsys.readouterr().out.split(" deployed at ")[1].split()[0]
    plant = Chain.connect(hardhat_url).accounts[PLANT]
    call = ["ledger", "call", spec, address, "--rpc-url", hardhat_url]
    assert run([*call, "addPlant", "--arg", f"plantAddress={plant}"]) == 0
    assert "addPlant: tx 0x" in capsys.readouterr().out
    assert run([*call, "plantCount"]) == 0
    assert capsys.readouterr().out.strip() == "1"
    assert run([*call, "plant", "--arg", plant]) == 0
    assert capsys.readouterr().out.strip() == "True"
    assert run([*call, "finish", "--from", str(STRANGER)]) == 1
    assert "needs role aggregator" in capsys.readouterr().err
    assert run(["ledger", "events", spec, address, "--rpc-url", hardhat_url]) == 0
    assert "AddPlant" in capsys.readouterr().out


def test_local_signing_with_a_private_key(hardhat_url: str, compiler: CompilerConfig) -> None:
    # Key 3 is funded on the node (eth-tester's account 2) but signs here, not on the node.
    key = "0x" + "00" * 31 + "03"
    chain = Chain.connect(hardhat_url, private_keys=[key])
    assert chain.accounts == [Chain.embedded().accounts[2]]
    registry = ModelRegistryClient.create(chain, compiler=compiler)
    registry.register(MODEL, "ipfs://signed-locally")
    assert registry.owner == chain.accounts[0]
    assert registry.state() == "Registered"


def test_cli_withdraw_to_on_the_node(hardhat_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 17: the licensee's refund goes to a wallet of its choice; nobody else's does."""
    from edgeshield.cli import run
    from edgeshield.ledger import specs_dir

    node = Chain.connect(hardhat_url)
    a = node.accounts
    spec = str(specs_dir() / "model_licence.yaml")
    args = {
        "licensee": a[LICENSEE],
        "device": a[DEVICE],
        "modelDigest": "0x" + "11" * 32,
        "pricePerUse": "5",
        "expiresAt": str(node.next_timestamp() + 10 * DAY),
    }
    deploy = ["ledger", "deploy", spec, "--rpc-url", hardhat_url]
    for name, value in args.items():
        deploy += ["--arg", f"{name}={value}"]
    assert run(deploy) == 0
    address = capsys.readouterr().out.split(" deployed at ")[1].split()[0]
    call = ["ledger", "call", spec, address, "--rpc-url", hardhat_url]
    assert run([*call, "accept", "--value", "1000", "--from", str(LICENSEE)]) == 0
    assert run([*call, "cancel", "--from", str(LICENSEE)]) == 0
    capsys.readouterr()
    wallet = a[STRANGER]
    assert run([*call, "withdrawTo", "--arg", f"to={wallet}", "--from", str(STRANGER)]) == 1
    assert "NothingToWithdraw" in capsys.readouterr().err
    before = node.balance(wallet)
    assert run([*call, "withdrawTo", "--arg", f"to={wallet}", "--from", str(LICENSEE)]) == 0
    assert "Withdrawal" in capsys.readouterr().out
    assert node.balance(wallet) - before == 1000
