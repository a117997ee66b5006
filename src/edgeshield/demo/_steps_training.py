"""Demo steps 1-3: plant data, federated training with a watermark, and the on-chain record."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import cast

import pandas as pd

from edgeshield.demo._config import DemoConfig, PoisonKind
from edgeshield.demo._context import DemoContext, StepRecord, demo_secret, expect, need
from edgeshield.demo._data import DemoData, load_demo_data, positive_word
from edgeshield.federated import (
    VALIDATION_FRACTION,
    AfterAggregate,
    Aggregator,
    FederatedConfig,
    FederatedResult,
    MaliciousPlant,
    PlantBehaviour,
    RecordDP,
    RoundRecord,
    run_federated,
    server_encoder,
    server_public_rows,
)
from edgeshield.ledger import FederatedRoundAuditClient, ModelRegistryClient
from edgeshield.ownership import (
    CommitmentOpening,
    EmbedConfig,
    Envelope,
    LedgerCommitmentStore,
    SensorEnvelope,
    WaffleConfig,
    WatermarkKey,
    derive_triggers,
    fit_envelope,
    trigger_accuracy,
    waffle_hook,
)
from edgeshield.redteam import Backdoor, LabelFlip, ModelReplacement, SignFlip
from edgeshield.usecase import (
    FeatureEncoder,
    Fleet,
    GeneratorConfig,
    PlantDatabase,
    PublicPretraining,
    generate,
    sqlite_url,
    stratified_split,
)

__all__ = ["OWNER_ID", "pooled_rows", "step_federated", "step_ledger_record", "step_plants"]

OWNER_ID = "EdgeShield Industrial Demo Vendor"
"""The model owner's identity, bound into the ownership commitment."""

_PUBLIC_REFERENCE_SEED = 4242


def waffle_after_pretraining(triggers: int) -> WaffleConfig:
    """The owner's mark on a publicly pretrained start (issue 14).

    The start model is pretrained again from scratch on the public pretraining rows with the
    triggers mixed in (2 %, the pretraining recipe: 40 epochs, Adam 3e-3), so the mark is
    learnt together with the public data; the aggregator then tops it up (mixed with the same
    rows, at a tenth of WAFFLE's rate, at most 5 passes) only in rounds where the plants'
    fine-tuning left fewer than 70 % of the triggers at probability 0.5 (above the threshold
    the server picks on public rows). WAFFLE's re-training on the triggers after every
    aggregation cost about 25 pp of failure F1; fine-tuning the mark into the pretrained model
    cost slightly less F1 than this but was detected less often (``docs/results.md``, public
    pretraining).
    """
    return WaffleConfig(
        triggers=triggers,
        start=EmbedConfig(
            triggers=triggers,
            epochs=40,
            learning_rate=3e-3,
            batch_size=256,
            max_passes=2,
            target_accuracy=0.8,
        ),
        start_fresh=True,
        threshold=0.5,
        target_accuracy=0.7,
        learning_rate=0.003,
        max_epochs=5,
    )


def _waffle_config(*, pretrained: bool, physics: bool, triggers: int) -> WaffleConfig:
    """WAFFLE's recipe: after pretraining, from a random start, or without failure physics.

    A schema without declared physics has no physics-labelled anchor points: only the public
    reference rows hold the decision on ordinary rows in place while the triggers are learnt.
    """
    if pretrained:
        return waffle_after_pretraining(triggers)
    return (
        WaffleConfig(triggers=triggers) if physics else WaffleConfig(triggers=triggers, anchors=0)
    )


def _behaviour(kind: PoisonKind) -> PlantBehaviour:
    if kind is PoisonKind.SIGN_FLIP:
        return SignFlip()
    if kind is PoisonKind.MODEL_REPLACEMENT:
        return ModelReplacement()
    if kind is PoisonKind.LABEL_FLIP:
        return LabelFlip()
    return Backdoor()


def _plants_url(ctx: DemoContext) -> str:
    """The plant database of the run (SQLite), which step 1 writes."""
    return sqlite_url(ctx.run_dir / "plants.db")


def step_plants(ctx: DemoContext) -> StepRecord:
    """Store every plant's rows in the plant database (SQLite): generated, or from a file.

    AI4I 2020 plants are generated; another schema's rows come from ``config.data``, read
    by the schema (its types and ranges checked, as ``data import`` checks them).
    """
    config = ctx.config
    start = time.perf_counter()
    ctx.progress(
        "1/7 generating plant data" if config.generated else "1/7 reading plant data", 0.01
    )
    data = load_demo_data(config)
    db_url = _plants_url(ctx)
    with PlantDatabase(db_url, schema=data.schema) as db:
        if data.fleet is not None:
            written = db.write_fleet(data.fleet.profiles, data.fleet.frames)
        else:
            written = sum(db.write_plant(pid, frame) for pid, frame in data.plants.items())
        stored = db.plant_ids()
    expect(written == data.plant_rows, "plants", f"{written} rows stored, {data.plant_rows} drawn")
    expect(stored == sorted(data.plant_ids), "plants", "the database lists other plants")
    ctx.state.data = data
    failures = data.positives()
    figures: dict[str, object] = {"rows": written, "failures": failures}
    if data.fleet is not None:
        counted = f"{sum(failures.values())} failures"
    else:
        counted = f"{sum(failures.values())} {positive_word(data.schema)!r} rows"
        figures.update(
            schema={
                "name": data.schema.name,
                "sha256": data.schema.digest,
                "positive": str(data.schema.target.positive),
            },
            source=data.source,
            reference_rows=0 if data.reference is None else len(data.reference),
            test_rows=0 if data.test is None else len(data.test),
        )
    return StepRecord(
        key="plants",
        title="Plant data",
        outcome=f"{config.plants} plants, {written} rows, {counted}, stored in {db_url}"
        + ("" if data.fleet is not None else f" (schema {data.schema.name}; {data.source})"),
        seconds=time.perf_counter() - start,
        figures=figures,
    )


def _fl_config(
    config: DemoConfig, *, robust: bool, plant_rows: int | None = None
) -> FederatedConfig:
    """The federated run's configuration; ``plant_rows``: a file's rows over all plants."""
    malicious = tuple(
        MaliciousPlant(plant=i, behaviour=_behaviour(config.poison))
        for i in range(config.malicious)
    )
    fl = FederatedConfig(
        plants=config.plants,
        rounds=config.rounds,
        local_epochs=config.local_epochs,
        batch_size=config.batch_size,
        secure=True,
        aggregator=Aggregator.MEDIAN if robust else Aggregator.FEDAVG,
        bucket_size=config.bucket_size if robust else None,
        malicious=malicious,
        pretraining=None if config.pretrain is None else PublicPretraining(source=config.pretrain),
        hidden=config.hidden,
        bins=config.bins,
        seed=config.seed,
    )
    if not config.dp_noise:
        return fl
    # The Poisson rate is public: the batch size over a plant's expected training rows (the
    # demo's public fleet size), so epsilon needs no plant's row count. A file's plants train
    # on all their rows (the test rows were held out of the file before the split).
    if plant_rows is None:
        expected = config.rows / config.plants * (1 - fl.test_fraction)
    else:
        expected = plant_rows / config.plants
    expected *= 1 - VALIDATION_FRACTION
    dp = RecordDP(
        noise_multiplier=config.dp_noise,
        reproducible=config.reproducible_dp,
        sample_rate=min(config.batch_size / expected, 0.5),
        trainable=config.dp_trainable,
    )
    return dataclasses.replace(fl, record_dp=dp)


def pooled_rows(fleet: Fleet, fl: FederatedConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every plant's training rows and held-out rows, pooled, split as the federated run splits.

    Why: the released model and the reference models of the price table
    (:mod:`edgeshield.demo._reference`) must be scored on the same test rows.
    """
    parts = [
        stratified_split(fleet.frames[pid], test_fraction=fl.test_fraction, seed=fl.seed)
        for pid in fleet.plant_ids[: fl.plants]
    ]
    train = pd.concat([p[0] for p in parts], ignore_index=True)
    return train, pd.concat([p[1] for p in parts], ignore_index=True)


def _test_rows(data: DemoData, fl: FederatedConfig) -> pd.DataFrame:
    """A file's held-out rows, or those of every generated plant as the federated run splits."""
    if data.test is not None:
        return data.test
    return pooled_rows(need(data.fleet, "fleet"), fl)[1]


def _public_rows(data: DemoData, config: DemoConfig, fl: FederatedConfig) -> pd.DataFrame:
    """The vendor's public rows: the file's reference set, or generated AI4I readings."""
    if data.reference is not None:
        return data.reference
    return generate(
        GeneratorConfig(rows=fl.reference_rows), seed=config.seed + _PUBLIC_REFERENCE_SEED
    )


def step_federated(ctx: DemoContext) -> StepRecord:
    """Train across plants with SecAgg+ in buckets, DP, a median, and the owner's watermark.

    From a publicly pretrained start the mark is embedded into the start model with the public
    rows and only topped up at the aggregator (:func:`waffle_after_pretraining`); from a random
    start WAFFLE re-trains on the triggers after every aggregation.
    """
    config = ctx.config
    start = time.perf_counter()
    data = need(ctx.state.data, "plant data")
    key = WatermarkKey.from_bytes(demo_secret(config.seed, "watermark-key"))
    file_rows = None if data.fleet is not None else data.plant_rows
    robust = _fl_config(config, robust=True, plant_rows=file_rows)
    public = _public_rows(data, config, robust)
    # AI4I: the envelope of its failure physics; another schema: the schema's table envelope
    # fitted on the public reference rows (as ownership embed fits it).
    envelope: Envelope = (
        SensorEnvelope.fit(public) if data.fleet is not None else fit_envelope(public, data.schema)
    )
    pretrained = robust.pretraining is not None
    # The server fits its encoder on the same public rows (server_start), deterministically.
    encoder = (
        server_encoder(robust)
        if data.reference is None
        else FeatureEncoder.fit(data.reference, bins=robust.bins, schema=data.schema)
    )
    source: Fleet | str = data.fleet if data.fleet is not None else _plants_url(ctx)
    hook = waffle_hook(
        key,
        encoder=encoder,
        hidden=robust.hidden,
        envelope=envelope,
        config=_waffle_config(
            pretrained=pretrained, physics=data.fleet is not None, triggers=config.triggers
        ),
        reference=server_public_rows(robust) if pretrained else public.iloc[:500],
        seed=config.seed,
    )
    runs = 2 if config.compare_fedavg else 1

    def on_round(run: int) -> Callable[[RoundRecord], None]:
        def report(record: RoundRecord) -> None:
            done = ((run * config.rounds) + record.round) / (runs * config.rounds)
            ctx.progress(
                f"2/7 federated training, round {record.round}/{config.rounds} "
                f"(F1 {record.test_f1:.2f})",
                0.03 + 0.42 * done,
            )

        return report

    ctx.progress("2/7 federated training (starting Flower)", 0.03)
    robust_start = time.perf_counter()
    result: FederatedResult = run_federated(
        robust,
        source,
        ctx.run_dir / "federated",
        on_round=on_round(0),
        after_aggregate=cast(AfterAggregate, hook),
        before_training=cast(AfterAggregate, hook) if pretrained else None,
        engine=config.engine,
        schema=data.schema,
        reference=data.reference,
        test_frame=data.test,
    )
    figures: dict[str, object] = {
        "rounds": [r.as_dict() for r in result.rounds],
        "record_epsilon": result.record_epsilon,
        "record_delta": None if robust.record_dp is None else robust.record_dp.delta,
        "dp_noise": config.dp_noise,
        "aggregator": f"bucketed SecAgg+ (k={config.bucket_size}) + median",
        "privacy": result.summary()["privacy"],
        "public_pretraining": result.public,
        "seconds": time.perf_counter() - robust_start,
        "poisoning": f"{config.malicious} {config.poison.value} plant(s) in federated training"
        if config.malicious
        else None,
    }
    digests = result.digests
    expect(len(digests) == config.rounds, "federated", "a round is missing from the run")
    expect(len(set(digests)) == len(digests), "federated", "the global model did not change")
    test = _test_rows(data, robust)
    metrics = result.classifier.evaluate(test)
    triggers = derive_triggers(key, config.triggers, envelope=envelope)
    marked = trigger_accuracy(result.classifier, triggers)
    figures.update(test=metrics.as_dict(), trigger_accuracy=marked)
    if config.compare_fedavg and config.malicious:
        fedavg_start = time.perf_counter()
        fedavg = run_federated(
            _fl_config(config, robust=False, plant_rows=file_rows),
            source,
            ctx.run_dir / "federated-fedavg",
            on_round=on_round(1),
            engine=config.engine,
            schema=data.schema,
            reference=data.reference,
            test_frame=data.test,
        )
        figures["fedavg"] = {
            "test": fedavg.classifier.evaluate(test).as_dict(),
            "rounds": [r.as_dict() for r in fedavg.rounds],
            "seconds": time.perf_counter() - fedavg_start,
        }
    word = positive_word(data.schema)
    expect(metrics.f1 > 0.0, "federated", f"the global model detects no {word} at all")
    state = ctx.state
    state.key, state.envelope, state.federated = key, envelope, result
    state.classifier, state.test = result.classifier, test
    eps = ""
    if result.record_epsilon is not None and robust.record_dp is not None:
        eps = (
            f", DP-SGD noise {robust.record_dp.noise_multiplier:g}: "
            f"ε = {result.record_epsilon:.2f} per plant at δ = {robust.record_dp.delta:g}"
        )
    return StepRecord(
        key="federated",
        title="Federated training",
        outcome=f"{config.rounds} rounds on Flower, SecAgg+ in buckets of {config.bucket_size}, "
        f"median, {config.malicious} malicious plant(s) ({config.poison.value}){eps}: "
        f"{word} F1 {metrics.f1:.3f}; watermark on {marked:.0%} of triggers",
        seconds=time.perf_counter() - start,
        figures=figures,
    )


def _bytes32(digest: str) -> bytes:
    """A ``sha256:<hex>`` (or bare hex) digest as the 32 bytes a contract stores."""
    raw = bytes.fromhex(digest.split(":", 1)[-1])
    expect(len(raw) == 32, "ledger", f"digest {digest!r} is not 32 bytes")
    return raw


def step_ledger_record(ctx: DemoContext) -> StepRecord:
    """Record every round in FederatedRoundAudit; register the model with a commitment."""
    config = ctx.config
    start = time.perf_counter()
    ctx.progress("3/7 recording rounds and the ownership commitment on chain", 0.46)
    # Connected and checked (accounts, funds) before step 1, see edgeshield.demo._chain.
    state = ctx.state
    chain = need(state.chain, "chain")
    owner, plants = state.accounts["owner"], list(state.plant_accounts)
    expect(len(plants) == config.plants, "ledger", "the chain has too few accounts")
    result = need(state.federated, "federated result")
    audit = FederatedRoundAuditClient.create(chain, aggregator=owner)
    for plant in plants:
        audit.add_plant(plant)
    identities = FederatedRoundAuditClient.identities_digest(plants)
    for record in result.rounds:
        audit.commit_round(_bytes32(record.digest), record.participants, identities)
        for plant in plants:
            audit.enrol(plant)
        for plant in plants:
            audit.attest(audit.round, sender=plant)
        audit.close_round()
    expect(audit.round == len(result.rounds), "ledger", "the audit trail misses rounds")
    expect(
        audit.global_model_digest == _bytes32(result.rounds[-1].digest),
        "ledger",
        "the last committed digest is not the final global model's",
    )
    classifier = need(state.classifier, "classifier")
    digest = bytes.fromhex(classifier.model_digest)
    registry = ModelRegistryClient.create(chain, owner=owner)
    registry.register(digest, f"edgeshield://models/{digest.hex()[:16]}")
    opening = CommitmentOpening.of(need(state.key, "watermark key"), digest, OWNER_ID)
    receipt = LedgerCommitmentStore(registry).commit(opening.commitment())
    on_chain = registry.commitment  # bound to owner, registry and chain id
    expect(
        on_chain == registry.bound_commitment(opening.commitment()),
        "ledger",
        "the commitment was not stored",
    )
    state.audit, state.registry, state.opening, state.model_digest = (
        audit,
        registry,
        opening,
        digest,
    )
    return StepRecord(
        key="ledger",
        title="On-chain record",
        outcome=f"{audit.round} rounds committed and attested by {len(plants)} plants in "
        f"FederatedRoundAudit; model digest {classifier.model_digest} registered in "
        f"ModelRegistry with commitment 0x{on_chain.hex()[:16]}… ({chain.label})",
        seconds=time.perf_counter() - start,
        figures={
            "audit": audit.address,
            "registry": registry.address,
            "model_digest": classifier.model_digest,
            "commitment": "0x" + on_chain.hex(),
            "opening_commitment": "0x" + opening.commitment().hex(),
            "committed_at": receipt.committed_at.isoformat(),
            "chain": chain.label,
            "chain_embedded": chain.is_embedded,
        },
    )
