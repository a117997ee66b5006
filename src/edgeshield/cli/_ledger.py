"""``edgeshield ledger``: generate, compile, analyse, deploy and call FSM contracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeshield.errors import ConfigError, LedgerError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    ContractSpec,
    EvmVersion,
    GeneratorOptions,
    SpecContract,
    compile_spec,
    default_cache_dir,
    generate_solidity,
    load_spec,
)

__all__ = ["app"]

app = typer.Typer(
    help="Contracts generated from FSM specs: generate, compile, analyse, deploy, call, events.",
    no_args_is_help=True,
)

SpecPath = Annotated[
    Path, typer.Argument(help="A contract spec (YAML), e.g. contracts/specs/*.yaml.")
]
Evm = Annotated[EvmVersion, typer.Option("--evm-version", help="Target EVM version.")]
RpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", help="JSON-RPC node URL; default: the embedded py-evm chain."),
]
PrivateKey = Annotated[
    str | None,
    typer.Option(
        "--private-key",
        envvar="EDGESHIELD_PRIVATE_KEY",
        help="Sign locally with this key (else the node's unlocked accounts are used).",
    ),
]
Account = Annotated[int, typer.Option("--from", min=0, help="Index of the sending account.")]


def _chain(rpc_url: str | None, private_key: str | None, *, needs_rpc: str | None) -> Chain:
    if rpc_url is None:
        if needs_rpc:
            raise ConfigError(
                f"`ledger {needs_rpc}` needs --rpc-url: the embedded chain lives only as long "
                "as one command"
            )
        return Chain.embedded()
    return Chain.connect(rpc_url, private_keys=(private_key,) if private_key else ())


def _sender(chain: Chain, index: int) -> str:
    if index >= len(chain.accounts):
        raise ConfigError(f"--from {index}: only {len(chain.accounts)} accounts available")
    return chain.accounts[index]


def _parse_value(text: str, type_: str) -> Any:
    if type_ == "uint256":
        try:
            value = int(text, 0)
        except ValueError as exc:
            raise ConfigError(f"{text!r} is not an integer") from exc
        if value < 0:
            raise ConfigError(f"{text!r} is negative")
        return value
    if type_ == "bool":
        if text.lower() not in ("true", "false"):
            raise ConfigError(f"{text!r} is not true/false")
        return text.lower() == "true"
    return text


def _named_args(pairs: list[str], expected: dict[str, str], what: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in expected:
            raise ConfigError(f"{what}: expected NAME=VALUE with NAME in {list(expected)}")
        values[name] = _parse_value(text, expected[name])
    missing = [name for name in expected if name not in values]
    if missing:
        raise ConfigError(f"{what}: missing {', '.join(f'--arg {m}=...' for m in missing)}")
    return values


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


@app.command(name="generate")
def generate_cmd(
    spec_path: SpecPath,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    evm_version: Evm = EvmVersion.PRAGUE,
) -> None:
    """Generate the Solidity contract for a spec (deterministic)."""
    source = generate_solidity(load_spec(spec_path), GeneratorOptions(evm_version=evm_version))
    if output is None:
        typer.echo(source, nl=False)
    else:
        output.write_text(source, encoding="utf-8")
        typer.echo(f"wrote {output}")


@app.command(name="compile")
def compile_cmd(
    spec_path: SpecPath,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Artifact JSON.")] = None,
    evm_version: Evm = EvmVersion.PRAGUE,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Artifact cache (default: user cache).")
    ] = None,
) -> None:
    """Generate and compile a spec with solc-js; print or write the artifact."""
    spec = load_spec(spec_path)
    config = CompilerConfig(evm_version=evm_version, cache_dir=cache_dir or default_cache_dir())
    compiled = compile_spec(spec, config)
    if output is not None:
        output.write_text(json.dumps(compiled.to_json(), indent=2), encoding="utf-8")
    size = (len(compiled.deployed_bytecode) - 2) // 2
    typer.echo(
        f"{compiled.name}: solc {compiled.solc_version}, evm {compiled.evm_version.value}, "
        f"runtime {size} bytes, source sha256:{compiled.source_digest}"
        + (" (cached)" if compiled.cached else "")
        + (f", wrote {output}" if output is not None else "")
    )


@app.command(name="analyse")
def analyse_cmd(
    spec_paths: Annotated[list[Path], typer.Argument(help="Specs to generate and analyse.")],
    evm_version: Evm = EvmVersion.PRAGUE,
) -> None:
    """Run Slither on the generated contracts; fail on any High or Medium finding."""
    from edgeshield.ledger import analyse_sources

    specs: list[ContractSpec] = [load_spec(path) for path in spec_paths]
    options = GeneratorOptions(evm_version=evm_version)
    sources = {spec.contract: generate_solidity(spec, options) for spec in specs}
    findings = analyse_sources(sources, evm_version=evm_version)
    for finding in findings:
        typer.echo(f"{finding.impact:<6} {finding.check:<24} {finding.description[:160]}")
    serious = [f for f in findings if f.serious]
    typer.echo(
        f"slither: {len(sources)} contracts, {len(serious)} High/Medium, "
        f"{len(findings) - len(serious)} Low findings"
    )
    if serious:
        raise LedgerError(f"Slither reported {len(serious)} High/Medium findings")


@app.command(name="deploy")
def deploy_cmd(
    spec_path: SpecPath,
    arg: Annotated[
        list[str] | None, typer.Option("--arg", help="Constructor argument NAME=VALUE.")
    ] = None,
    rpc_url: RpcUrl = None,
    private_key: PrivateKey = None,
    sender: Account = 0,
) -> None:
    """Deploy a spec's contract and print its address."""
    spec = load_spec(spec_path)
    args = _named_args(arg or [], spec.constructor_inputs, "constructor")
    chain = _chain(rpc_url, private_key, needs_rpc=None)
    contract = SpecContract.deploy(chain, spec, args, sender=_sender(chain, sender))
    typer.echo(f"{spec.contract} deployed at {contract.address} ({chain.label})")
    typer.echo(f"deploy gas: {contract.deployed.deploy_gas}")
    if chain.is_embedded:
        typer.echo("note: the embedded chain ends with this command; use --rpc-url to keep it")


@app.command(name="call")
def call_cmd(
    spec_path: SpecPath,
    address: Annotated[str, typer.Argument(help="Contract address.")],
    function: Annotated[
        str,
        typer.Argument(
            help="Transition, tick/pause/unpause/withdraw/withdrawTo (--arg to=ADDRESS), or a "
            "public variable to read."
        ),
    ],
    arg: Annotated[list[str] | None, typer.Option("--arg", help="Input NAME=VALUE.")] = None,
    value: Annotated[int, typer.Option("--value", min=0, help="Wei to send.")] = 0,
    rpc_url: RpcUrl = None,
    private_key: PrivateKey = None,
    sender: Account = 0,
) -> None:
    """Send a transition (the counter is read first) or read a public variable."""
    spec = load_spec(spec_path)
    chain = _chain(rpc_url, private_key, needs_rpc="call")
    contract = SpecContract.at(chain, spec, address)
    names = {t.name for t in spec.transitions}
    if function in names:
        item = spec.transition(function)
        inputs = _named_args(arg or [], dict(item.inputs), function)
        result = contract.transition(function, inputs, sender=_sender(chain, sender), value=value)
    elif function in ("tick", "pause", "unpause", "withdraw"):
        result = contract.call_function(function, sender=_sender(chain, sender), value=value)
    elif function == "withdrawTo":
        to = _named_args(arg or [], {"to": "address"}, function)["to"]
        result = contract.call_function(function, [to], sender=_sender(chain, sender), value=value)
    elif function == "state":
        typer.echo(contract.state())
        return
    elif function in (*spec.variables, *spec.roles, "transitionCounter", "paused", "credits"):
        key = arg[0] if arg else None
        typer.echo(_show(contract.get(function, key)))
        return
    else:
        raise ConfigError(f"{spec.contract} has no function or variable {function!r}")
    typer.echo(
        f"{function}: tx {result.tx_hash}, block {result.block_number}, "
        f"gas {result.gas_used}, state {contract.state()}"
    )
    for event in result.events:
        typer.echo(f"  {event.name} {json.dumps({k: _show(v) for k, v in event.args.items()})}")


@app.command(name="events")
def events_cmd(
    spec_path: SpecPath,
    address: Annotated[str, typer.Argument(help="Contract address.")],
    from_block: Annotated[int, typer.Option("--from-block", min=0)] = 0,
    rpc_url: RpcUrl = None,
) -> None:
    """List the contract's events, oldest first."""
    spec = load_spec(spec_path)
    chain = _chain(rpc_url, None, needs_rpc="events")
    contract = SpecContract.at(chain, spec, address)
    for event in contract.events(from_block):
        args = json.dumps({k: _show(v) for k, v in event.args.items()})
        typer.echo(f"block {event.block_number} {event.name} {args}")
