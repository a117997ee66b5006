"""``edgeshield ledger``: generate, compile, analyse, deploy and call FSM contracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeshield.cli._outputs import check_writable, replace_file
from edgeshield.cli._render import JsonOption, print_json
from edgeshield.errors import ConfigError, LedgerError
from edgeshield.ledger import (
    Chain,
    CompilerConfig,
    ContractSpec,
    EventRecord,
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


def _plain(value: Any) -> Any:
    """A contract value as JSON: bytes as ``0x`` hex, numbers and booleans as themselves."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return _show(value)


def _event_json(event: EventRecord) -> dict[str, Any]:
    return {
        "name": event.name,
        "args": {k: _plain(v) for k, v in event.args.items()},
        "block_number": event.block_number,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
    }


@app.command(name="generate")
def generate_cmd(
    spec_path: SpecPath,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    evm_version: Evm = EvmVersion.PRAGUE,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --output.")] = False,
) -> None:
    """Generate the Solidity contract for a spec (deterministic)."""
    if output is not None:
        check_writable(output, force=force, what="output")
    source = generate_solidity(load_spec(spec_path), GeneratorOptions(evm_version=evm_version))
    if output is None:
        typer.echo(source, nl=False)
    else:
        replace_file(output, source.encode("utf-8"))
        typer.echo(f"wrote {output}")


@app.command(name="compile")
def compile_cmd(
    spec_path: SpecPath,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Artifact JSON.")] = None,
    evm_version: Evm = EvmVersion.PRAGUE,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Artifact cache (default: user cache).")
    ] = None,
    as_json: JsonOption = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --output.")] = False,
) -> None:
    """Generate and compile a spec with solc-js; print or write the artifact."""
    if output is not None:
        check_writable(output, force=force, what="output")
    spec = load_spec(spec_path)
    config = CompilerConfig(evm_version=evm_version, cache_dir=cache_dir or default_cache_dir())
    compiled = compile_spec(spec, config)
    if output is not None:
        replace_file(output, json.dumps(compiled.to_json(), indent=2).encode("utf-8"))
    size = (len(compiled.deployed_bytecode) - 2) // 2
    if as_json:
        print_json(
            {
                "contract": compiled.name,
                "solc_version": compiled.solc_version,
                "evm_version": compiled.evm_version.value,
                "runtime_bytes": size,
                "source_digest": f"sha256:{compiled.source_digest}",
                "cached": compiled.cached,
                "output": None if output is None else str(output),
            }
        )
        return
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
    as_json: JsonOption = False,
) -> None:
    """Run Slither on the generated contracts; fail on any High or Medium finding."""
    from edgeshield.ledger import analyse_sources

    specs: list[ContractSpec] = [load_spec(path) for path in spec_paths]
    options = GeneratorOptions(evm_version=evm_version)
    sources = {spec.contract: generate_solidity(spec, options) for spec in specs}
    findings = analyse_sources(sources, evm_version=evm_version)
    serious = [f for f in findings if f.serious]
    if as_json:
        print_json(
            {
                "contracts": sorted(sources),
                "serious": len(serious),
                "findings": [
                    {
                        "contract": f.contract,
                        "check": f.check,
                        "impact": f.impact,
                        "confidence": f.confidence,
                        "description": f.description,
                        "serious": f.serious,
                    }
                    for f in findings
                ],
            }
        )
    else:
        for finding in findings:
            typer.echo(f"{finding.impact:<6} {finding.check:<24} {finding.description[:160]}")
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
    as_json: JsonOption = False,
) -> None:
    """Deploy a spec's contract and print its address."""
    spec = load_spec(spec_path)
    args = _named_args(arg or [], spec.constructor_inputs, "constructor")
    chain = _chain(rpc_url, private_key, needs_rpc=None)
    contract = SpecContract.deploy(chain, spec, args, sender=_sender(chain, sender))
    if as_json:
        print_json(
            {
                "contract": spec.contract,
                "address": contract.address,
                "chain": chain.label,
                "embedded": chain.is_embedded,
                "deploy_gas": contract.deployed.deploy_gas,
                "state": contract.state(),
            }
        )
        return
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
    as_json: JsonOption = False,
) -> None:
    """Send a transition (the counter is read first) or read a public variable.

    With ``--json``: a read prints ``{"function", "value"}``; a transaction prints its hash,
    block, gas, the state after it and its decoded events.
    """
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
        _print_read(function, contract.state(), as_json=as_json)
        return
    elif function in (*spec.variables, *spec.roles, "transitionCounter", "paused", "credits"):
        key = arg[0] if arg else None
        _print_read(function, contract.get(function, key), as_json=as_json)
        return
    else:
        raise ConfigError(f"{spec.contract} has no function or variable {function!r}")
    if as_json:
        print_json(
            {
                "function": function,
                "tx_hash": result.tx_hash,
                "block_number": result.block_number,
                "gas_used": result.gas_used,
                "state": contract.state(),
                "events": [_event_json(event) for event in result.events],
            }
        )
        return
    typer.echo(
        f"{function}: tx {result.tx_hash}, block {result.block_number}, "
        f"gas {result.gas_used}, state {contract.state()}"
    )
    for event in result.events:
        typer.echo(f"  {event.name} {json.dumps({k: _show(v) for k, v in event.args.items()})}")


def _print_read(function: str, value: Any, *, as_json: bool) -> None:
    if as_json:
        print_json({"function": function, "value": _plain(value)})
    else:
        typer.echo(_show(value))


@app.command(name="events")
def events_cmd(
    spec_path: SpecPath,
    address: Annotated[str, typer.Argument(help="Contract address.")],
    from_block: Annotated[int, typer.Option("--from-block", min=0)] = 0,
    rpc_url: RpcUrl = None,
    as_json: JsonOption = False,
) -> None:
    """List the contract's events, oldest first."""
    spec = load_spec(spec_path)
    chain = _chain(rpc_url, None, needs_rpc="events")
    contract = SpecContract.at(chain, spec, address)
    if as_json:
        print_json({"events": [_event_json(event) for event in contract.events(from_block)]})
        return
    for event in contract.events(from_block):
        args = json.dumps({k: _show(v) for k, v in event.args.items()})
        typer.echo(f"block {event.block_number} {event.name} {args}")
