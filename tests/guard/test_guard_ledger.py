"""The ledger gate in the product: built from the licence's ledger reference, on both chains.

Issue 15: ``guard serve`` never built the gate, a reference to a contract that does not exist
was served, and after ``rebindDevice(B)`` gateway A kept serving (the gate checked neither the
contract's device nor its model digest). Each case runs on the embedded chain and on a Hardhat
node; the CLI cases start ``guard serve --rpc-url`` against Hardhat.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from guard_kit import NOW, SECRET, GuardProcess, Kit, fixed_clock, write_deployment

from edgeshield.cli import run
from edgeshield.errors import GuardError
from edgeshield.guard import (
    ClientRegistry,
    GuardService,
    GuardStore,
    OutputTier,
    create_app,
    gate_from_licence,
    open_classifier,
    records_from_frame,
)
from edgeshield.ledger import Chain, ModelLicenceClient
from edgeshield.vault import LedgerRef, issue_licence

pytestmark = pytest.mark.slow

OWNER, LICENSEE, DEVICE_A, DEVICE_B = 0, 1, 2, 3
NOWHERE = "0x" + "5a" * 20


@pytest.fixture(params=["embedded", "hardhat"])
def chain(request: pytest.FixtureRequest) -> Chain:
    if request.param == "embedded":
        return Chain.embedded()
    return Chain.connect(request.getfixturevalue("hardhat_url"))


def _contract(chain: Chain, digest: bytes) -> ModelLicenceClient:
    a = chain.accounts
    contract = ModelLicenceClient.create(
        chain,
        licensee=a[LICENSEE],
        device=a[DEVICE_A],
        model_digest=digest,
        price_per_use=1,
        expires_at=chain.next_timestamp() + 30 * 86_400,
        owner=a[OWNER],
    )
    contract.accept(1000, sender=a[LICENSEE])
    return contract


def _service(kit: Kit, tmp_path: Path, chain: Chain, ref: LedgerRef) -> tuple[TestClient, str]:
    token = issue_licence(
        kit.owner,
        device=kit.device.public_key(),
        model_digest=kit.digest,
        not_before=NOW - timedelta(days=1),
        expires=NOW + timedelta(days=30),
        query_quota=None,
        ledger=ref,
    )
    model = open_classifier(
        kit.bundle,
        device_key=kit.device,
        owner_public_key=kit.owner.public_key(),
        licence=token,
        clock=fixed_clock(),
    )
    gate = gate_from_licence(model.licence, chain, device=chain.accounts[DEVICE_A], ttl_s=0.0)
    registry = ClientRegistry()
    key = registry.add("c", tier=OutputTier.LABEL_ONLY)
    service = GuardService(
        model,
        clients=registry,
        store=GuardStore(f"sqlite:///{tmp_path / 'l.db'}"),
        watermark_secret=SECRET,
        licence_clock=fixed_clock(),
        licence_gate=gate,
    )
    return TestClient(create_app(service=service)), key


def _status(client: TestClient, key: str, kit: Kit) -> tuple[int, str]:
    body = {"records": records_from_frame(kit.frames["plant-3"].iloc[:2])}
    answer = client.post("/v1/predict", json=body, headers={"X-API-Key": key})
    return answer.status_code, answer.text


def test_rebind_to_another_device_stops_serving(
    kit: Kit, tmp_path: Path, chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    contract = _contract(chain, bytes.fromhex(kit.digest))
    ref = LedgerRef(contract_address=contract.address, licence_id=0)
    client, key = _service(kit, tmp_path, chain, ref)
    assert _status(client, key, kit)[0] == 200
    contract.rebind_device(chain.accounts[DEVICE_B])
    # only proposed by the owner: the licensee has not consented, the device is unchanged
    assert _status(client, key, kit)[0] == 200
    contract.accept_device(chain.accounts[DEVICE_B])
    status, text = _status(client, key, kit)
    assert status == 403
    assert "licence no longer valid" in text
    assert "another device" not in text  # the reason is the operator's: the log says it
    assert any("another device" in r.getMessage() for r in caplog.records)
    contract.rebind_device(chain.accounts[DEVICE_A])
    contract.accept_device(chain.accounts[DEVICE_A])
    assert _status(client, key, kit)[0] == 200
    contract.pause()
    assert _status(client, key, kit)[0] == 403


def test_a_contract_for_another_model_is_refused_at_start(
    kit: Kit, tmp_path: Path, chain: Chain
) -> None:
    contract = _contract(chain, b"\x42" * 32)
    ref = LedgerRef(contract_address=contract.address, licence_id=0)
    with pytest.raises(GuardError, match="another model"):
        _service(kit, tmp_path, chain, ref)


@pytest.mark.parametrize("case", ["no contract", "another licence id", "not a licence"])
def test_a_reference_that_does_not_resolve_is_refused_at_start(
    kit: Kit, tmp_path: Path, chain: Chain, case: str
) -> None:
    if case == "no contract":
        ref = LedgerRef(contract_address=NOWHERE, licence_id=0)
    elif case == "another licence id":
        contract = _contract(chain, bytes.fromhex(kit.digest))
        ref = LedgerRef(contract_address=contract.address, licence_id=1)
    else:
        from edgeshield.ledger import ModelRegistryClient

        registry = ModelRegistryClient.create(chain)
        ref = LedgerRef(contract_address=registry.address, licence_id=0)
    with pytest.raises(GuardError, match="guard cannot start"):
        _service(kit, tmp_path, chain, ref)


def test_serve_refuses_a_ledger_licence_without_rpc_and_an_unresolved_reference(
    kit: Kit,
    tmp_path: Path,
    hardhat_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = LedgerRef(contract_address=NOWHERE, licence_id=0)
    deployment = write_deployment(kit, tmp_path, tiers={"c": OutputTier.LABEL_ONLY}, ledger=ref)
    monkeypatch.setenv("EDGESHIELD_GUARD_WATERMARK_SECRET", SECRET.decode())
    device = Chain.connect(hardhat_url).accounts[DEVICE_A]
    for extra, needle in (
        ([], "start with --rpc-url"),
        (["--rpc-url", hardhat_url], "needs --device-address"),
        (["--rpc-url", hardhat_url, "--device-address", device], "does not resolve"),
        (["--rpc-url", "http://127.0.0.1:1", "--device-address", device], "cannot reach"),
    ):
        assert run(["guard", "serve", *deployment.args, *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ")
        assert err.count("\n") == 1, err
        assert needle in err, err


def test_serve_with_rpc_url_follows_the_contract(
    kit: Kit, tmp_path: Path, hardhat_url: str
) -> None:
    chain = Chain.connect(hardhat_url)
    contract = _contract(chain, bytes.fromhex(kit.digest))
    ref = LedgerRef(contract_address=contract.address, licence_id=0)
    deployment = write_deployment(kit, tmp_path, tiers={"c": OutputTier.LABEL_ONLY}, ledger=ref)
    args = ["--rpc-url", hardhat_url, "--device-address", chain.accounts[DEVICE_A]]
    server = GuardProcess(deployment, extra_args=args).start()
    key = deployment.keys["c"]
    body = {"records": records_from_frame(kit.frames["plant-3"].iloc[:2])}
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:

            def status() -> int:
                return http.post("/v1/predict", json=body, headers={"X-API-Key": key}).status_code

            assert status() == 200
            contract.rebind_device(chain.accounts[DEVICE_B])
            contract.accept_device(chain.accounts[DEVICE_B])
            # The gate reuses the chain's answer for 1 s: ask until it notices (bounded count).
            codes = [status() for _ in range(1)]
            while codes[-1] == 200 and len(codes) < 10_000:
                codes.append(status())
            assert codes[-1] == 403, codes[-5:]
    finally:
        server.stop()
