"""``edgeshield ledger from-text | from-pnml | from-ontology | verify``: front ends and properties.

These commands are registered on the ``ledger`` sub-app (importing this module is enough).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from edgeshield.cli._ledger import app
from edgeshield.cli._outputs import check_writable_all, replace_file
from edgeshield.cli._render import JsonOption, print_json
from edgeshield.errors import ConfigError, SpecError
from edgeshield.ledger import (
    ContractSpec,
    EvmVersion,
    ExplorationBounds,
    GeneratorOptions,
    SmtConfig,
    SmtOutcome,
    StateGraph,
    Verdict,
    check_properties,
    explore,
    generate_solidity,
    load_contract,
    load_ontology,
    load_pnml,
    load_text,
    parse_property,
    read_source,
    spec_to_yaml,
    verify_smt,
)

__all__ = ["from_ontology_cmd", "from_pnml_cmd", "from_text_cmd", "verify_cmd"]

Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the generated Solidity here.")
]
SpecOutput = Annotated[
    Path | None, typer.Option("--spec-output", help="Write the derived YAML spec here.")
]
Evm = Annotated[EvmVersion, typer.Option("--evm-version", help="Target EVM version.")]
Force = Annotated[
    bool, typer.Option("--force", help="Replace existing --output / --spec-output files.")
]
Props = Annotated[
    list[str] | None,
    typer.Option(
        "--property", "-p", help="Verify before generating; nothing is written if it fails."
    ),
]


def _convert(
    loader: Callable[[str | Path], ContractSpec],
    path: Path,
    output: Path | None,
    spec_output: Path | None,
    evm_version: EvmVersion,
    props: list[str] | None,
    force: bool,
) -> None:
    targets = [p for p in (spec_output, output) if p is not None]
    check_writable_all(targets, force=force, what="output")
    parsed = [parse_property(text) for text in props or []]
    spec = loader(path)
    if parsed:
        verdicts = check_properties(spec, parsed)
        for verdict in verdicts:
            typer.echo(verdict.explain())
        if not all(verdict.holds for verdict in verdicts):
            typer.echo("not generated: a property fails", err=True)
            raise typer.Exit(code=1)
    text = spec_to_yaml(spec)
    source = generate_solidity(spec, GeneratorOptions(evm_version=evm_version))
    if spec_output is None:
        typer.echo(text, nl=False)
    else:
        replace_file(spec_output, text.encode("utf-8"))
        typer.echo(f"wrote {spec_output}")
    if output is not None:
        replace_file(output, source.encode("utf-8"))
        typer.echo(f"wrote {output}")
    typer.echo(
        f"# {spec.contract}: {len(spec.states)} states, {len(spec.transitions)} transitions, "
        f"{len(source.splitlines())} lines of Solidity, spec sha256:{spec.digest()[:16]}"
    )


@app.command(name="from-text")
def from_text_cmd(
    path: Annotated[Path, typer.Argument(help="A contract in controlled English (.txt).")],
    output: Output = None,
    spec_output: SpecOutput = None,
    evm_version: Evm = EvmVersion.PRAGUE,
    props: Props = None,
    force: Force = False,
) -> None:
    """Parse a contract written in controlled English; show the spec, generate the contract."""
    _convert(load_text, path, output, spec_output, evm_version, props, force)


@app.command(name="from-pnml")
def from_pnml_cmd(
    path: Annotated[Path, typer.Argument(help="A 1-safe Petri net in PNML (.pnml).")],
    output: Output = None,
    spec_output: SpecOutput = None,
    evm_version: Evm = EvmVersion.PRAGUE,
    props: Props = None,
    force: Force = False,
) -> None:
    """Check a Petri net (reachability, deadlocks) and derive its spec and contract."""
    _convert(load_pnml, path, output, spec_output, evm_version, props, force)


@app.command(name="from-ontology")
def from_ontology_cmd(
    path: Annotated[Path, typer.Argument(help="A licence-domain ontology in Turtle (.ttl).")],
    output: Output = None,
    spec_output: SpecOutput = None,
    evm_version: Evm = EvmVersion.PRAGUE,
    props: Props = None,
    force: Force = False,
) -> None:
    """Validate an ontology with its SHACL rules and derive its spec and contract."""
    _convert(load_ontology, path, output, spec_output, evm_version, props, force)


def _read_properties(path: Path) -> list[str]:
    lines = read_source(path, "properties").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@app.command(name="verify")
def verify_cmd(
    path: Annotated[
        Path, typer.Argument(help="A contract in any form: .yaml, .txt, .pnml or .ttl.")
    ],
    prop: Annotated[
        list[str] | None,
        typer.Option("--property", "-p", help="e.g. 'reportUsage cannot happen after revoke'."),
    ] = None,
    properties: Annotated[
        Path | None, typer.Option("--properties", help="A file with one property per line.")
    ] = None,
    max_value: Annotated[
        int, typer.Option("--max-value", help="Bound on uint256 state values explored.")
    ] = 2,
    max_states: Annotated[int, typer.Option("--max-states", help="Stop after this many.")] = 20_000,
    strangers: Annotated[int, typer.Option("--strangers", help="Accounts with no role.")] = 1,
    smt: Annotated[
        bool,
        typer.Option(
            "--smt",
            help="Also prove each safety property with solc's SMTChecker (CHC, external z3).",
        ),
    ] = False,
    smt_timeout: Annotated[
        float, typer.Option("--smt-timeout", help="Seconds per CHC query (with --smt).")
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Explore the contract's states and check properties; exit 1 if any property fails.

    ``--json`` prints the same findings as one JSON object (exit status unchanged).
    """
    texts = list(prop or []) + (_read_properties(properties) if properties else [])
    try:
        bounds = ExplorationBounds(max_value=max_value, max_states=max_states, strangers=strangers)
    except SpecError as exc:
        raise ConfigError(str(exc)) from exc
    parsed = [parse_property(text) for text in texts]
    spec = load_contract(path)
    verdicts = check_properties(spec, parsed, graph=(graph := explore(spec, bounds)))
    if not as_json:
        _print_exploration(spec.contract, graph, max_value, max_states, verdicts)
    smt_verdicts = (
        verify_smt(spec, parsed, SmtConfig(timeout_s=smt_timeout)) if smt and parsed else []
    )
    failed = sum(not v.holds for v in verdicts)
    failed += sum(v.outcome is SmtOutcome.VIOLATED for v in smt_verdicts)
    if as_json:
        print_json(
            {
                "contract": spec.contract,
                "states_explored": graph.size,
                "cut": len(graph.cut),
                "complete": graph.complete,
                "terminal_states": sorted({graph.fsm_states[n] for n in graph.deadlocks()}),
                "unreachable_states": list(graph.unreachable_states()),
                "properties": [
                    {"property": str(v.property), "holds": v.holds, "explanation": v.explain()}
                    for v in verdicts
                ],
                "smt": [
                    {
                        "property": str(v.property),
                        "outcome": v.outcome.value,
                        "seconds": v.seconds,
                        "explanation": v.explain(),
                    }
                    for v in smt_verdicts
                ]
                if smt
                else None,
                "failed": failed,
            }
        )
    else:
        for smt_verdict in smt_verdicts:
            typer.echo(smt_verdict.explain())
        if smt_verdicts:
            proved = sum(v.outcome is SmtOutcome.PROVED for v in smt_verdicts)
            typer.echo(f"{proved} of {len(smt_verdicts)} properties proved by the SMTChecker")
    if failed:
        raise typer.Exit(code=1)


def _print_exploration(
    contract: str, graph: StateGraph, max_value: int, max_states: int, verdicts: list[Verdict]
) -> None:
    """The text form of ``verify`` before the SMTChecker runs: exploration, each verdict."""
    terminal = sorted({graph.fsm_states[n] for n in graph.deadlocks()})
    typer.echo(
        f"{contract}: {graph.size} states explored"
        + (f", {len(graph.cut)} cut at value bound {max_value}" if graph.cut else "")
        + ("" if graph.complete else f", stopped at {max_states} states")
    )
    typer.echo(f"  terminal states (no call succeeds): {', '.join(terminal) or 'none'}")
    typer.echo(f"  unreachable states: {', '.join(graph.unreachable_states()) or 'none'}")
    for verdict in verdicts:
        typer.echo(verdict.explain())
    if verdicts:
        failed = sum(not v.holds for v in verdicts)
        typer.echo(f"{len(verdicts) - failed} of {len(verdicts)} properties hold")
