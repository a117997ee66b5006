"""Demo steps 4-5: seal and license the model, then serve it to a benign client and attackers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np

from edgeshield.demo._context import DemoContext, StepRecord, demo_secret, expect, need
from edgeshield.demo._server import LocalServer
from edgeshield.demo._verdict import response_phrase
from edgeshield.errors import GuardError, KeyMismatchError, LicenceError
from edgeshield.guard import (
    AlarmAction,
    ClientRegistry,
    GuardConfig,
    GuardedModel,
    GuardService,
    GuardStore,
    LedgerLicenceGate,
    OutputTier,
    RequestSchema,
    create_app,
    open_classifier,
    request_schema,
    seal_classifier,
)
from edgeshield.ledger import ModelLicenceClient
from edgeshield.redteam import (
    AttackKind,
    AttackSpace,
    ExtractionConfig,
    ExtractionReport,
    GuardClient,
    fit_surrogate,
    run_extraction,
)
from edgeshield.usecase import is_default_schema, labels, sqlite_url
from edgeshield.vault import (
    DeviceKey,
    LedgerRef,
    OwnerKey,
    inspect_bundle,
    issue_licence,
    verify_bundle,
)

__all__ = ["GATE_TTL_S", "step_release", "step_serve"]

PRICE_PER_USE_WEI = 10**12
PREPAID_USES = 1_000
LICENCE_DAYS = 30
QUERY_QUOTA = 100_000
GATE_TTL_S = 1.0
"""How long the service reuses the contract's answer; a suspension bites within this time."""


def step_release(ctx: DemoContext) -> StepRecord:
    """Seal the model for two gateways; offer and activate a ModelLicence for one of them."""
    start = time.perf_counter()
    ctx.progress("4/7 sealing the model for two edge gateways, licensing one", 0.50)
    state = ctx.state
    classifier = need(state.classifier, "classifier")
    chain, accounts = need(state.chain, "chain"), state.accounts
    owner_key = OwnerKey.generate()
    devices = {"gateway-a": DeviceKey.generate(), "gateway-b": DeviceKey.generate()}
    schema = classifier.schema
    model_id = "failure-classifier" if is_default_schema(schema) else f"{schema.name}-classifier"
    bundle = seal_classifier(
        classifier,
        owner_key=owner_key,
        recipients=[d.public_key() for d in devices.values()],
        model_id=model_id,
        metadata={"registry": need(state.registry, "model registry").address},
    )
    release = ctx.run_dir / "release"
    release.mkdir(exist_ok=True)
    path = release / f"{model_id}.esb"
    path.write_bytes(bundle)
    verify_bundle(path, owner_public_key=owner_key.public_key())  # raises IntegrityError if altered
    info = inspect_bundle(path)
    expect(
        len(info.recipient_key_ids) == 2, "release", "the bundle is not sealed for both gateways"
    )
    expect(
        info.model_digest == classifier.model_digest,
        "release",
        "the bundle's model digest is not the registered model's",
    )
    contract = ModelLicenceClient.create(
        chain,
        licensee=accounts["licensee"],
        device=accounts["device_a"],
        model_digest=bytes.fromhex(info.model_digest),  # the sealed model the guard serves
        price_per_use=PRICE_PER_USE_WEI,
        expires_at=chain.next_timestamp() + LICENCE_DAYS * 86_400,
        owner=accounts["owner"],
    )
    contract.accept(PRICE_PER_USE_WEI * PREPAID_USES, sender=accounts["licensee"])
    expect(contract.is_usable(), "release", "the on-chain licence is not active after accept")
    now = datetime.now(UTC)
    token = issue_licence(
        owner_key,
        device=devices["gateway-a"].public_key(),
        model_digest=info.model_digest,
        not_before=now - timedelta(minutes=5),
        expires=now + timedelta(days=LICENCE_DAYS),
        query_quota=QUERY_QUOTA,
        ledger=LedgerRef(contract_address=contract.address, licence_id=0),
    )
    (release / "gateway-a.licence").write_text(token)
    state.owner_key, state.devices, state.bundle = owner_key, devices, path
    state.licence, state.licence_contract = token, contract
    return StepRecord(
        key="release",
        title="Sealed release and licence",
        outcome=f"bundle {path.name} ({path.stat().st_size / 1024:.0f} KiB, AES-256-GCM, "
        f"Ed25519-signed) for gateway-a and gateway-b; ModelLicence {contract.address[:10]}… "
        f"active for gateway-a ({PREPAID_USES} uses prepaid); model digest {info.model_digest}",
        seconds=time.perf_counter() - start,
        figures={
            "bundle_bytes": path.stat().st_size,
            "model_digest": info.model_digest,
            "licence_contract": contract.address,
            "prepaid_wei": contract.prepaid,
        },
    )


def step_serve(ctx: DemoContext) -> StepRecord:
    """Start the guard on gateway-a; refuse gateway-b; serve a benign client and two attackers.

    The Jacobian attack also runs against the same model with the defences off, as the
    baseline of the report's "extraction fidelity with and without defences" figure.
    """
    config = ctx.config
    start = time.perf_counter()
    ctx.progress("5/7 starting the guarded service on gateway-a", 0.55)
    state = ctx.state
    owner_public = need(state.owner_key, "owner key").public_key()
    devices, bundle = state.devices, need(state.bundle, "sealed bundle")
    token = need(state.licence, "licence")
    refusal = ""
    try:
        open_classifier(
            bundle, device_key=devices["gateway-b"], owner_public_key=owner_public, licence=token
        )
    except (LicenceError, KeyMismatchError, GuardError) as exc:
        refusal = f"{type(exc).__name__}: {exc}"
    expect(bool(refusal), "serve", "gateway-b opened the model without a licence of its own")
    model = open_classifier(
        bundle, device_key=devices["gateway-a"], owner_public_key=owner_public, licence=token
    )
    registry = ClientRegistry()
    keys = {
        "benign": registry.add("benign", tier=OutputTier.LABEL_ONLY, rate_per_s=500, burst=5000),
        # A tight bucket, so that the throttle after an alarm bites within the demo's budget.
        "attacker": registry.add("attacker", tier=OutputTier.FULL, rate_per_s=100, burst=200),
        "thief": registry.add("thief", tier=OutputTier.LABEL_ONLY, rate_per_s=500, burst=5000),
    }
    # Registered as soon as each is open: a failing step or Ctrl-C closes them (reverse order).
    store = GuardStore(sqlite_url(ctx.run_dir / "guard-state.db"))
    ctx.resources.callback(store.close)
    service = GuardService(
        model,
        clients=registry,
        store=store,
        watermark_secret=demo_secret(config.seed, "api-watermark"),
        config=GuardConfig(alarm_action=AlarmAction.THROTTLE),
        licence_gate=LedgerLicenceGate(
            need(state.licence_contract, "licence contract"),
            device=state.accounts["device_a"],
            model_digest=model.model_digest,
            ttl_s=GATE_TTL_S,
        ),
    )
    server = ctx.resources.enter_context(LocalServer(create_app(service=service)))
    http = ctx.resources.enter_context(httpx.Client(base_url=server.url, timeout=60.0))
    state.http, state.store, state.api_keys = http, store, keys

    classifier = need(state.classifier, "classifier")
    data = need(state.data, "plant data")
    requests = request_schema(data.schema)  # the served schema's fields, as OpenAPI shows them
    benign_trace = data.benign_rows(config)
    ctx.progress("5/7 a benign client replays a sensor trace", 0.57)
    benign = GuardClient(http, keys["benign"], batch=50, schema=requests).query(benign_trace)
    own_labels = classifier.predict(benign_trace)
    served_differs = int(np.sum(benign.labels != own_labels))
    truth = labels(benign_trace, data.schema)
    benign_state = store.client_state("benign")
    expect(
        benign_state is not None and benign_state.alarm_at is None,
        "serve",
        "the benign client raised an extraction alarm",
    )

    ctx.progress("5/7 an attacker runs a Jacobian-augmentation extraction", 0.60)
    eval_frame = data.eval_rows(config)
    victim_eval = classifier.predict(eval_frame)
    budgets = (*(b for b in (100, 300) if b < config.attack_budget), config.attack_budget)

    def jacobian(client: GuardClient) -> ExtractionReport:
        # One attack, two endpoints: same seed, budgets, attacker pool and evaluation rows.
        return run_extraction(
            client,
            ExtractionConfig(kind=AttackKind.JACOBIAN, budgets=budgets, seed=config.seed),
            attacker_pool=data.attacker_rows(),
            eval_frame=eval_frame,
            victim_eval_labels=victim_eval,
        )

    attack_start = time.perf_counter()
    attack = jacobian(
        GuardClient(http, keys["attacker"], batch=25, max_wait_s=5.0, schema=requests)
    )
    attack_seconds = time.perf_counter() - attack_start
    attacker_state = store.client_state("attacker")
    alarm_at = None if attacker_state is None else attacker_state.alarm_at
    attacker_marked = sum(
        1
        for m in store.watermark_records("attacker")
        if service.watermark is not None
        and service.watermark.select(requests.validate([m.query]))[0]
    )
    expect(alarm_at is not None, "serve", "the Jacobian attacker was not detected")
    expect(
        attack.throttled_requests > 0 or attack.refused_at is not None,
        "serve",
        "the detected attacker was neither throttled nor refused",
    )

    ctx.progress("5/7 the same attack against the same model with the defences off", 0.63)
    undefended_start = time.perf_counter()
    undefended = _undefended_run(ctx, model, jacobian, requests)
    undefended_seconds = time.perf_counter() - undefended_start
    expect(
        undefended.refused_at is None
        and undefended.throttled_requests == 0
        and bool(undefended.points)
        and undefended.points[-1].queries == config.attack_budget,
        "serve",
        "the undefended baseline did not answer the attacker's whole budget",
    )

    ctx.progress("5/7 a thief copies the model with natural queries", 0.66)
    pool = data.thief_rows(config)
    answers = GuardClient(http, keys["thief"], batch=200, schema=requests).query(pool)
    surrogate = fit_surrogate(
        pool,
        answers.labels,
        hidden=(32, 32),
        epochs=300,
        seed=config.seed,
        space=AttackSpace(requests),
    )
    thief_state = store.client_state("thief")
    thief_alarm = None if thief_state is None else thief_state.alarm_at
    state.surrogate, state.eval_frame = surrogate, eval_frame
    points, baseline = _points(attack), _points(undefended)
    guarded_last = attack.points[-1] if attack.points else None
    compared = (
        f"; without defences the same attack had all {undefended.points[-1].queries} queries "
        f"answered (surrogate macro agreement {undefended.points[-1].fidelity.macro_agreement:.2f}"
        + (
            f", against {guarded_last.fidelity.macro_agreement:.2f} after "
            f"{guarded_last.queries} guarded queries)"
            if guarded_last is not None
            else ")"
        )
    )
    return StepRecord(
        key="serve",
        title="Guarded service under attack",
        outcome=f"gateway-b refused ({refusal.split(':')[0]}); benign client served "
        f"{len(benign.labels)} rows without alarm; Jacobian attacker "
        + response_phrase(alarm_at, attack.throttled_requests, attack.refused_at)
        + compared
        + f"; natural-query thief {'not detected' if thief_alarm is None else 'detected'} "
        f"after {len(answers.labels)} queries",
        seconds=time.perf_counter() - start,
        figures={
            "refusal": refusal,
            "benign_rows": len(benign.labels),
            "benign_served_differs": served_differs,
            "benign_f1_served": _f1(truth, benign.labels),
            "benign_f1_model": _f1(truth, own_labels),
            "attacker_alarm_at": alarm_at,
            "attacker_throttled": attack.throttled_requests,
            "attacker_refused_at": attack.refused_at,
            "attacker_watermarked": attacker_marked,
            "attacker_points": points,
            "undefended_points": baseline,
            "undefended_throttled": undefended.throttled_requests,
            "undefended_refused_at": undefended.refused_at,
            "attacker_seconds": attack_seconds,
            "undefended_seconds": undefended_seconds,
            "thief_queries": len(answers.labels),
            "thief_alarm_at": thief_alarm,
        },
    )


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Failure F1 of ``predicted`` labels (0 when there is neither a failure nor a call)."""
    hits = int(np.sum((truth == 1) & (predicted == 1)))
    calls, failures = int(np.sum(predicted == 1)), int(np.sum(truth == 1))
    return 0.0 if calls + failures == 0 else 2 * hits / (calls + failures)


def _points(report: ExtractionReport) -> list[dict[str, float | int]]:
    """The fidelity curve of one extraction run, JSON-ready for the report."""
    return [
        {
            "budget": p.budget,
            "queries": p.queries,
            "macro_agreement": p.fidelity.macro_agreement,
            "failure_agreement": p.fidelity.failure_agreement,
        }
        for p in report.points
    ]


def _undefended_run(
    ctx: DemoContext,
    model: GuardedModel,
    attack: Callable[[GuardClient], ExtractionReport],
    requests: RequestSchema,
) -> ExtractionReport:
    """Run ``attack`` against the same model served with every extraction defence off.

    Why: the baseline of the "with and without defences" curve. Same service code, but no
    detection (hence no throttle), no API watermark, full output and an unlimited bucket; the
    licence check stays (it is not an extraction defence). Its own state, closed afterwards.
    """
    registry = ClientRegistry()
    key = registry.add("attacker", tier=OutputTier.FULL, rate_per_s=1e9, burst=1e9)
    store = GuardStore(sqlite_url(ctx.run_dir / "undefended-state.db"))
    service = GuardService(
        model,
        clients=registry,
        store=store,
        watermark_secret=demo_secret(ctx.config.seed, "undefended-baseline"),
        config=GuardConfig(alarm_action=AlarmAction.LOG, detect=False, watermark_rate=0.0),
    )
    try:
        with (
            LocalServer(create_app(service=service)) as server,
            httpx.Client(base_url=server.url, timeout=60.0) as http,
        ):
            return attack(GuardClient(http, key, batch=25, max_wait_s=5.0, schema=requests))
    finally:
        store.close()
