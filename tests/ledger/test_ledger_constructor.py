"""Constructor checks (issue 17, low): a zero or stale argument is refused at deployment.

A zero address, a zero model digest, a price of 0 or an expiry not after the deployment block
would otherwise deploy a licence that no transition can repair. Each bad argument reverts on
the embedded chain with the error the reference model (the checker's semantics) names, the
CLI says which argument in one line, and an honest deployment a minute before the edge
still goes through.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from ledger_kit import DEVICE, LICENSEE, OWNER, constructor_args, ordered

from edgeshield.cli import run
from edgeshield.errors import ConfigError, ContractRevertError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    ReferenceModel,
    SpecContract,
    compiled_for,
    parse_spec,
    shipped_spec,
    specs_dir,
)

LICENCE = shipped_spec("ModelLicence")
ZERO = "0x" + "00" * 20


def _bad(chain: Chain, name: str) -> Any:
    """The bad value for ``name``: zero, or (a deadline) the deployment block's own time."""
    if name == "expiresAt":
        return chain.next_timestamp()
    return {"licensee": ZERO, "device": ZERO, "modelDigest": b"\x00" * 32}.get(name, 0)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("licensee", ("ZeroAddress", ())),
        ("device", ("ZeroAddress", ())),
        ("modelDigest", ("InvalidArgument", (2,))),
        ("pricePerUse", ("InvalidArgument", (3,))),
        ("expiresAt", ("InvalidArgument", (4,))),
    ],
)
def test_bad_licence_arguments_revert_on_chain_and_in_the_model(
    name: str, error: tuple[str, tuple[int, ...]], chain: Chain, compiler: CompilerConfig
) -> None:
    args = {**constructor_args(LICENCE, chain), name: _bad(chain, name)}
    timestamp = chain.next_timestamp()
    with pytest.raises(ContractRevertError) as info:
        chain.deploy(
            compiled_for(LICENCE, compiler), ordered(LICENCE, args), sender=chain.accounts[OWNER]
        )
    assert (info.value.error_name, tuple(info.value.error_args)) == error
    with pytest.raises(ConfigError, match=rf"{name}.*\({error[0]}\b"):
        ReferenceModel(
            LICENCE, deployer=chain.accounts[OWNER], constructor_args=args, timestamp=timestamp
        )


def test_an_expiry_in_the_past_is_named(chain: Chain, compiler: CompilerConfig) -> None:
    args = {**constructor_args(LICENCE, chain), "expiresAt": 1}
    with pytest.raises(ContractRevertError, match="refused expiresAt: it must lie after"):
        SpecContract.deploy(chain, LICENCE, args, compiler=compiler)


def test_the_honest_edge_deploys(chain: Chain, compiler: CompilerConfig) -> None:
    """The other side: a minute of validity and a price of 1 wei are accepted.

    (A minute, not a second: the embedded chain's clock follows the wall clock.)
    """
    args = {
        **constructor_args(LICENCE, chain),
        "pricePerUse": 1,
        "expiresAt": chain.next_timestamp() + 60,
    }
    licence = SpecContract.deploy(chain, LICENCE, args, compiler=compiler)
    assert licence.state() == "Offered"
    assert licence.deployed.call("licensee") == chain.accounts[LICENSEE]
    assert licence.deployed.call("device") == chain.accounts[DEVICE]


def test_a_deadline_planned_after_a_pause_holds(
    chain: Chain, compiler: CompilerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two idle minutes, then a minute of validity: the plan and the block share one clock.

    py-evm dated the pending block when the last one was mined and estimated gas at the wall
    clock, so after a pause the planned expiry was already past (a full-suite failure).
    """
    args = constructor_args(LICENCE, chain)  # mines nothing: the pending block keeps its date
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 120)
    args = {**args, "pricePerUse": 1, "expiresAt": chain.next_timestamp() + 60}
    assert args["expiresAt"] >= int(real_time()) + 120 + 60
    licence = SpecContract.deploy(chain, LICENCE, args, compiler=compiler)
    assert licence.state() == "Offered"


def test_only_zero_able_types_are_checked(chain: Chain, compiler: CompilerConfig) -> None:
    """Address variables count as addresses; bool and string arguments may be empty."""
    spec = parse_spec(
        "\n".join(
            [
                "contract: Args",
                "states: [Open]",
                "initial: Open",
                "roles: {owner: {init: deployer}}",
                "variables:",
                "  payee: {type: address, constructor: true}",
                "  open: {type: bool, constructor: true}",
                "  note: {type: string, constructor: true}",
                "transitions:",
                "  - {name: poke, from: Open, role: owner}",
                "plugins: {access_control: true}",
            ]
        ),
        source="<args>",
    )
    compiled = compiled_for(spec, compiler)
    with pytest.raises(ContractRevertError, match="ZeroAddress"):
        chain.deploy(compiled, [ZERO, True, "x"])
    contract = chain.deploy(compiled, [chain.accounts[1], False, ""])
    assert contract.call("open") is False


def test_cli_deploy_names_the_refused_argument(capsys: pytest.CaptureFixture[str]) -> None:
    args = {
        "licensee": "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF",
        "device": "0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69",
        "modelDigest": "0x" + "11" * 32,
        "pricePerUse": "0",
        "expiresAt": "99999999999",
    }
    argv = ["ledger", "deploy", str(specs_dir() / "model_licence.yaml")]
    for name, value in args.items():
        argv += ["--arg", f"{name}={value}"]
    assert run(argv) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "refused pricePerUse: it must not be zero (InvalidArgument(3))" in err
