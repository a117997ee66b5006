"""``edgeshield ownership``: watermark keys, embedding, null calibration, verification, evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from edgeshield.cli._data import SchemaOption, load_schema_option
from edgeshield.cli._limits import ROWS_MAX, SEED_MAX
from edgeshield.cli._outputs import check_writable, check_writable_all, staged_directory
from edgeshield.cli._ownership_api import verify_api_cmd
from edgeshield.cli._render import JsonOption, console, print_json, progress
from edgeshield.errors import ConfigError, OwnershipError
from edgeshield.ownership import (
    CommitmentOpening,
    EmbedConfig,
    Envelope,
    LocalCommitmentLog,
    NullDistribution,
    OwnershipEvidence,
    SensorEnvelope,
    TableEnvelope,
    WatermarkKey,
    calibrate_null,
    commitment,
    derive_triggers,
    embed_watermark,
    envelope_from_dict,
    fit_envelope,
    null_models_needed,
    train_null_models,
    trigger_accuracy,
    verify_ownership,
    write_evidence,
)
from edgeshield.usecase import (
    DatasetSchema,
    FleetConfig,
    default_schema,
    is_default_schema,
    load_classifier,
    load_schema,
    make_fleet,
    read_table,
    read_uci_csv,
    save_classifier,
    stratified_split,
)

__all__ = ["app"]

app = typer.Typer(
    help="Prove model ownership: watermark keys, embedding, calibration, verification.",
    no_args_is_help=True,
)

KeyOption = Annotated[Path, typer.Option("--key", help="Watermark key file (from keygen).")]
CsvOption = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        help="Rows in the model's dataset schema (CSV); default: a generated AI4I fleet.",
    ),
]
PlantsOption = Annotated[int, typer.Option(min=1, help="Generated plants (no --csv).")]
RowsOption = Annotated[int, typer.Option(min=200, max=ROWS_MAX, help="Generated rows (no --csv).")]
SeedOption = Annotated[
    int, typer.Option(min=0, max=SEED_MAX, help="Seed of the data split (as for `train`).")
]


_TABLE_TARGET_ACCURACY = 0.95
"""Trigger accuracy embed needs without declared physics: honest models agree with about half
of the key's balanced labels (against a few percent of AI4I's physics-contradicting ones)."""


def _plants(
    csv: Path | None, plants: int, rows: int, seed: int, schema: DatasetSchema
) -> dict[str, pd.DataFrame]:
    if csv is not None:
        return {"csv": read_uci_csv(csv) if is_default_schema(schema) else read_table(csv, schema)}
    if not is_default_schema(schema):
        raise ConfigError(f"schema {schema.name!r} needs --csv with its rows")
    return dict(make_fleet(FleetConfig(plants=plants, total_rows=rows), seed=seed).frames)


def _split(
    sources: dict[str, pd.DataFrame], seed: int, schema: DatasetSchema
) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = pd.concat(list(sources.values()), ignore_index=True)
    return stratified_split(data, seed=seed, schema=schema)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Key file to create (mode 0600).")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Create a fresh 256-bit watermark key."""
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    key = WatermarkKey.generate()
    key.save(out)
    console.print(f"watermark key {key.key_id} written to {out}")


@app.command()
def embed(
    model: Annotated[Path, typer.Option("--model", help="Trained model directory.")],
    key: KeyOption,
    out: Annotated[Path, typer.Option("--out", help="Directory for the marked model.")],
    envelope_out: Annotated[
        Path, typer.Option("--envelope", help="Where to write the trigger envelope (JSON).")
    ],
    csv: CsvOption = None,
    plants: PlantsOption = 5,
    rows: RowsOption = 10_000,
    seed: SeedOption = 0,
    triggers: Annotated[int, typer.Option(min=1, help="Number of triggers.")] = 50,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --out and --envelope.")
    ] = False,
) -> None:
    """Embed the key's trigger set into a trained model by fine-tuning it on training rows.

    Says which rows it fine-tunes on (--csv, read through the model card's dataset schema,
    else a generated AI4I fleet: pass the rows the model was trained on), fits the trigger
    envelope on them (AI4I's failure physics, or for another schema the rare rows of the
    reference data, labelled by the key), writes the marked model's card with metrics
    measured after embedding on the held-out rows, and fails, writing nothing, when the
    trigger accuracy stays below the target that a later ownership test needs.
    """
    check_writable(out, force=force, what="marked model")
    check_writable(envelope_out, force=force, what="envelope")
    classifier = load_classifier(model)
    schema = classifier.schema
    sources = _plants(csv, plants, rows, seed, schema)
    train_rows, test_rows = _split(sources, seed, schema)
    origin = f"{csv}" if csv is not None else f"a generated {plants}-plant fleet (seed {seed})"
    console.print(f"fine-tuning on {len(train_rows):,} training rows of {origin}")
    envelope = fit_envelope(train_rows, schema)
    wkey = WatermarkKey.load(key)
    config = EmbedConfig(triggers=triggers)
    if isinstance(envelope, TableEnvelope):
        config = EmbedConfig(triggers=triggers, target_accuracy=_TABLE_TARGET_ACCURACY)
        console.print(
            f"schema {schema.name!r} declares no failure physics: {triggers} rare rows of its "
            "envelope, labelled by the key (balanced)"
        )
    marked = embed_watermark(classifier, wkey, train_rows, envelope=envelope, config=config)
    accuracy = trigger_accuracy(marked, derive_triggers(wkey, triggers, envelope=envelope))
    if accuracy < config.target_accuracy:
        raise OwnershipError(
            f"trigger accuracy {accuracy:.0%} stays below the target {config.target_accuracy:.0%}"
            " after fine-tuning: the mark would not prove ownership; nothing written"
        )
    marked.metrics = {"test": marked.evaluate(test_rows).as_dict()}
    with staged_directory(out, force=force) as staging:
        save_classifier(marked, staging)
    envelope_out.write_text(json.dumps(envelope.to_dict(), indent=1))
    console.print(
        f"marked model saved to {out}; trigger accuracy {accuracy:.0%}; failure F1 on "
        f"{len(test_rows):,} held-out rows {marked.metrics['test']['f1']:.3f}"
    )
    console.print(f"model digest {marked.model_digest}")


def _load_envelope(path: Path) -> Envelope:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise OwnershipError(f"{path} is not a trigger envelope") from exc
    except OSError as exc:
        raise OwnershipError(f"cannot read the trigger envelope {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise OwnershipError(f"{path} is not a trigger envelope")
    return envelope_from_dict(data)


def _envelope_schema(envelope: Envelope, schema: str | None) -> DatasetSchema:
    """The dataset schema to calibrate in: ``--schema``, else the one the envelope names."""
    if schema is not None:
        layout = load_schema_option(schema)
    elif isinstance(envelope, TableEnvelope):
        try:
            layout = load_schema(envelope.schema_name)
        except Exception as exc:
            raise ConfigError(
                f"the envelope names schema {envelope.schema_name!r}: pass its YAML as --schema"
            ) from exc
    else:
        layout = default_schema()
    envelope.check_schema(layout)
    return layout


@app.command()
def calibrate(
    key: KeyOption,
    envelope: Annotated[Path, typer.Option("--envelope", help="Envelope written by embed.")],
    out: Annotated[Path, typer.Option("--out", help="Null calibration file to write (JSON).")],
    models: Annotated[
        int | None,
        typer.Option(min=2, help="Independent null models to train (default: what --fpr needs)."),
    ] = None,
    fpr: Annotated[
        float, typer.Option(help="Stated false-positive rate the calibration must support.")
    ] = 1e-3,
    triggers: Annotated[int, typer.Option(min=1, help="Number of triggers.")] = 50,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of the null MLPs.")] = 30,
    csv: CsvOption = None,
    plants: PlantsOption = 5,
    rows: RowsOption = 10_000,
    seed: Annotated[
        int, typer.Option(min=0, max=SEED_MAX, help="Seed of the data and the null models.")
    ] = 100,
    schema: SchemaOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
) -> None:
    """Train independent null models and measure their agreement with the trigger labels.

    A p-value cannot go below 1/(N+1) for N null models, so fewer than the stated FPR needs
    are refused before any training. The null models read --csv through the envelope's
    dataset schema (a shipped one by its name, else pass its YAML as --schema); an envelope
    of another schema than --schema is refused.
    """
    check_writable(out, force=force, what="null calibration")  # before hours of training
    needed = null_models_needed(fpr)
    count = needed if models is None else models
    if count < needed:
        raise ConfigError(
            f"a stated false-positive rate of {fpr:g} needs at least {needed} null models "
            f"(p-values cannot go below 1/(N+1)); got --models {count}"
        )
    wkey, env = WatermarkKey.load(key), _load_envelope(envelope)
    layout = _envelope_schema(env, schema)
    sources = _plants(csv, plants, rows, seed, layout)
    with progress() as bar:
        task = bar.add_task(f"training {count} null models", total=count)
        nulls = train_null_models(
            sources,
            count,
            epochs=epochs,
            seed=seed,
            on_model=lambda done, name: bar.update(
                task, completed=done, description=f"null model {done}/{count}: {name}"
            ),
            schema=layout,
        )
    null = calibrate_null(wkey, nulls, envelope=env, n=triggers, fpr=fpr)
    null.save(out)
    bound = null.bound()
    console.print(
        f"{count} null models: agreement {bound.rate:.2%} (upper {bound.rate_upper:.2%}, "
        f"rho {bound.overdispersion:.3f}, bound used {bound.overdispersion_upper:.3f}); "
        f"supports FPR >= {bound.p_floor:.3g}; calibration written to {out}"
    )


@app.command(name="commit")
def commit_cmd(
    model: Annotated[Path, typer.Option("--model", help="Released (marked) model directory.")],
    key: KeyOption,
    owner: Annotated[str, typer.Option("--owner", help="Owner identifier.")],
    log: Annotated[Path, typer.Option("--log", help="Commitment log file (JSON lines).")],
) -> None:
    """Record the ownership commitment of a model before its release."""
    value = commitment(
        WatermarkKey.load(key), bytes.fromhex(load_classifier(model).model_digest), owner
    )
    receipt = LocalCommitmentLog(log).commit(value)
    console.print(f"commitment {value.hex()} recorded at {receipt.committed_at.isoformat()}")


@app.command(name="verify")
def verify_cmd(
    suspect: Annotated[Path, typer.Option("--suspect", help="Suspect model directory.")],
    key: KeyOption,
    null: Annotated[Path, typer.Option("--null", help="Null calibration (from calibrate).")],
    queries: Annotated[int | None, typer.Option(min=1, help="Trigger queries to send.")] = None,
    fpr: Annotated[float, typer.Option(help="Stated false-positive rate.")] = 1e-3,
    controls: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Typical safe control points also queried (default 20; AI4I physics only).",
        ),
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Evidence directory.")] = None,
    owner: Annotated[str, typer.Option("--owner", help="Owner identifier.")] = "owner",
    log: Annotated[Path | None, typer.Option("--log", help="Commitment log to cite.")] = None,
    released: Annotated[
        Path | None, typer.Option("--released", help="The released model (for the commitment).")
    ] = None,
    as_json: JsonOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --report's evidence files.")
    ] = False,
) -> None:
    """Test a suspect model for the watermark; optionally write an evidence report.

    Exit status 0 when OWNED, 3 when NOT OWNED (also with --json).
    """
    if report is not None:
        names = ("evidence.md", "evidence.html", "agreement.png", "evidence.json")
        check_writable_all([report / n for n in names], force=force, what="evidence file")
    wkey = WatermarkKey.load(key)
    calibration = NullDistribution.load(null)
    classifier = load_classifier(suspect)
    calibration.envelope.check_schema(classifier.schema)
    if controls is None:
        controls = 20 if isinstance(calibration.envelope, SensorEnvelope) else 0
    result = verify_ownership(
        classifier, wkey, null=calibration, queries=queries, fpr=fpr, controls=controls
    )
    verdict = "OWNED" if result.owned else "NOT OWNED"

    def say(text: str) -> None:
        if not as_json:
            console.print(text)

    say(
        f"{verdict}: {result.matches}/{result.queries} triggers agree, {result.p_text()} "
        f"(stated FPR {fpr:g}; null agreement {result.null_rate:.2%})"
    )
    say(
        f"bound used: null rate <= {result.null_rate_upper:.2%}, rho <= "
        f"{result.overdispersion:.3f}, p >= 1/(N+1) = {result.p_floor:.3g} with calibration "
        f"size N = {result.null_models} (FPR {fpr:g} needs N >= {result.null_models_needed})"
    )
    receipt, matches = None, None
    if log is not None:
        digest = bytes.fromhex((load_classifier(released) if released else classifier).model_digest)
        opening = CommitmentOpening.of(wkey, digest, owner)
        try:
            receipt = LocalCommitmentLog(log).lookup(opening.commitment())
            matches = True
        except OwnershipError:
            matches = False
    if report is not None:
        evidence = OwnershipEvidence(
            owner_id=owner,
            key_id=wkey.key_id,
            suspect=str(suspect),
            suspect_model_digest=classifier.model_digest,
            result=result,
            null_names=calibration.names,
            receipt=receipt,
            commitment_matches=matches,
        )
        paths = write_evidence(evidence, report)
        say(f"evidence written to {paths.markdown} and {paths.html}")
    if as_json:
        print_json(
            {
                "verdict": verdict,
                "suspect": str(suspect),
                "suspect_model_digest": classifier.model_digest,
                "result": result.as_dict(),
                "commitment_matches": matches,
                "evidence": None
                if report is None
                else {"markdown": str(paths.markdown), "html": str(paths.html)},
            }
        )
    if not result.owned:
        raise typer.Exit(code=3)


app.command(name="verify-api")(verify_api_cmd)
