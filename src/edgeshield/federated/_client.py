"""The Flower ClientApp that every plant runs, in every mode (plain, SecAgg+, DP, malicious).

It is a legacy :class:`flwr.client.NumPyClient`: in Flower 1.42 SecAgg+ only works through
that path (a Message-API client behind ``secaggplus_mod`` fails with ``KeyError: 'arrays'``).
Two mods wrap it: SecAgg+ (only for messages that carry SecAgg+ stages, so the same app serves
plain rounds) and update-norm clipping before masking (only when the server asks for it).
SecAgg+'s stochastic rounding draws from numpy's global generator; the SecAgg+ mod seeds it
from the run's seed, round and plant for that one call (the rounding is no secret: the masks,
drawn from ``os.urandom`` by Flower, hide the update), so it adds no run-to-run noise.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import flwr.compat.common.recorddict_compat as compat
import numpy as np
import numpy.typing as npt
from flwr.app import Context, Message
from flwr.app.message_type import MessageType
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import fixedclipping_mod, secaggplus_mod
from flwr.clientapp.typing import ClientAppCallable, Mod
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Stage
from flwr.common.secure_aggregation.secaggplus_constants import Key as SecAggKey
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from edgeshield.errors import FederatedError
from edgeshield.federated._config import DPTrainable, MaliciousPlant, PlantBehaviour, RecordDP
from edgeshield.federated._local import get_arrays, set_arrays, train_local
from edgeshield.federated._release import evaluate_release, fit_release
from edgeshield.usecase import (
    DatasetSchema,
    FailureMLP,
    FeatureEncoder,
    PlantDatabase,
    default_schema,
    labels,
    stratified_split,
)

__all__ = ["ClientSettings", "make_client_app"]

Arrays = list[npt.NDArray[np.float32]]

#: Share of each plant's rows kept back locally for per-plant metrics and threshold counts.
VALIDATION_FRACTION = 0.2


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """What the simulated plants need that a real plant would configure on its own machine.

    Parameters
    ----------
    db_url
        SQLAlchemy URL of the plant database (each plant reads only its own rows).
    plant_ids
        Plant of each partition (Flower's ``partition-id``).
    malicious
        Plants that follow an attack.
    dropout
        Partitions that crash during training (after sharing their SecAgg+ keys).
    schema
        The dataset schema the plants read their rows by (AI4I 2020 unless given).
    """

    db_url: str
    plant_ids: tuple[str, ...]
    malicious: tuple[MaliciousPlant, ...] = ()
    dropout: frozenset[int] = field(default_factory=frozenset)
    schema: DatasetSchema = field(default_factory=default_schema)


def _record_dp(config: dict[str, Any]) -> RecordDP | None:
    noise = float(config.get("dp_noise", 0.0))
    if noise <= 0:
        return None
    asked = str(config.get("dp_trainable", DPTrainable.ALL.value))
    known = [t.value for t in DPTrainable]
    if asked not in known:
        raise FederatedError(f"the server asks DP-SGD to train {asked!r}; this plant knows {known}")
    return RecordDP(
        noise_multiplier=noise,
        max_grad_norm=float(config["dp_clip"]),
        delta=float(config["dp_delta"]),
        reproducible=bool(config.get("dp_reproducible", False)),
        sample_rate=float(config.get("dp_sample_rate", RecordDP().sample_rate)),
        trainable=DPTrainable(asked),
    )


class PlantClient(NumPyClient):
    """One plant: trains on its rows, reports parameters, evaluates the global model.

    The plant reads its rows by one of its own dataset ``schemas`` (AI4I 2020 when none is
    given; a plant that holds rows of several schemas has a table of each) and refuses an
    instruction for any other (the server sends the digest of the schema its encoder was
    fitted for).
    """

    def __init__(
        self,
        *,
        partition: int,
        plant_id: str,
        db_url: str,
        behaviour: PlantBehaviour | None,
        drops_out: bool,
        schemas: tuple[DatasetSchema, ...] = (),
    ) -> None:
        self.partition = partition
        self.plant_id = plant_id
        self.db_url = db_url
        self.behaviour = behaviour
        self.drops_out = drops_out
        self.schemas = schemas or (default_schema(),)

    def _data(self, config: dict[str, Any]) -> tuple[FeatureEncoder, Any, Any]:
        wanted = str(config.get("schema", default_schema().digest))
        schema = next((s for s in self.schemas if s.digest == wanted), None)
        if schema is None:
            names = ", ".join(f"{s.name!r} ({s.digest[:19]}…)" for s in self.schemas)
            raise FederatedError(
                f"plant {self.plant_id} reads dataset schema {names},"
                f" the server trains on {wanted[:19]}…"
            )
        with PlantDatabase(self.db_url, schema=schema) as db:
            frame = db.read_plant(self.plant_id)
        train, val = stratified_split(
            frame, test_fraction=VALIDATION_FRACTION, seed=int(config["seed"]), schema=schema
        )
        encoder = FeatureEncoder.from_dict(json.loads(str(config["encoder"])), schema)
        return encoder, train, val

    def _model(self, config: dict[str, Any], encoder: FeatureEncoder, params: Arrays) -> FailureMLP:
        hidden = tuple(int(h) for h in json.loads(str(config["hidden"])))
        model = FailureMLP(encoder.width, hidden, seed=0)
        set_arrays(model, params)
        return model

    def fit(self, parameters: Arrays, config: dict[str, Any]) -> tuple[Arrays, int, dict[str, Any]]:
        """Train the global model on this plant's rows for the configured epochs."""
        if self.drops_out:
            raise FederatedError(f"plant {self.plant_id} dropped out (simulated)")
        encoder, train, _ = self._data(config)
        model = self._model(config, encoder, parameters)
        x, y = encoder.transform(train), labels(train, encoder.schema)
        round_ = int(config["round"])
        seed = int(config["seed"]) * 10_007 + round_ * 101 + self.partition
        if self.behaviour is not None:
            x, y = self.behaviour.poison_data(x, y, np.random.default_rng(seed))
        dp = _record_dp(config)
        steps = train_local(
            model,
            x,
            y,
            epochs=int(config["epochs"]),
            batch_size=int(config["batch_size"]),
            learning_rate=float(config["lr"]),
            weight_decay=float(config["wd"]),
            dp=dp,
            seed=seed,
            proximal_mu=float(config.get("prox_mu", 0.0)),
        )
        weight, metrics = fit_release(
            self.plant_id, rows=int(x.shape[0]), steps=steps, private=dp is not None
        )
        return get_arrays(model), weight, metrics

    def evaluate(
        self, parameters: Arrays, config: dict[str, Any]
    ) -> tuple[float, int, dict[str, Any]]:
        """Metrics of the global model on this plant's validation rows (none under DP)."""
        encoder, _, val = self._data(config)
        model = self._model(config, encoder, parameters)
        y = labels(val, encoder.schema)
        scores = model.predict_proba(encoder.transform(val))
        return evaluate_release(
            self.plant_id,
            y,
            scores,
            threshold=float(config["threshold"]),
            private=bool(config.get("private", False)),
        )


@contextlib.contextmanager
def _global_numpy_seed(entropy: list[int]) -> Iterator[None]:
    """Seed numpy's global generator for one block, then restore its previous state."""
    state = np.random.get_state()
    np.random.seed(np.random.SeedSequence(entropy).generate_state(4))
    try:
        yield
    finally:
        np.random.set_state(state)


def _rounding_entropy(msg: Message, ctxt: Context) -> list[int] | None:
    """Seed of SecAgg+'s stochastic rounding: the run's seed, the round and the plant."""
    configs = msg.content.config_records
    if configs[RECORD_KEY_CONFIGS].get(SecAggKey.STAGE) != Stage.COLLECT_MASKED_VECTORS:
        return None
    fit = configs.get("fitins.config")
    if fit is None or "seed" not in fit or "round" not in fit:
        return None
    node = ctxt.node_config
    plant = str(node.get("partition-id", node.get("plant-id", ctxt.node_id)))
    return [int(cast(int, fit["seed"])), int(cast(int, fit["round"])), zlib.crc32(plant.encode())]


def _secure_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Apply Flower's ``secaggplus_mod`` to messages that carry SecAgg+ stages only."""
    if msg.metadata.message_type == MessageType.TRAIN and (
        RECORD_KEY_CONFIGS in msg.content.config_records
    ):
        entropy = _rounding_entropy(msg, ctxt)
        if entropy is None:
            return secaggplus_mod(msg, ctxt, call_next)
        with _global_numpy_seed(entropy):
            return secaggplus_mod(msg, ctxt, call_next)
    return call_next(msg, ctxt)


def _clipping_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Apply Flower's ``fixedclipping_mod`` when the server sends a clipping norm."""
    if msg.metadata.message_type == MessageType.TRAIN:
        for record in msg.content.config_records.values():
            if KEY_CLIPPING_NORM in record:
                return fixedclipping_mod(msg, ctxt, call_next)
    return call_next(msg, ctxt)


def _attack_mod(settings: ClientSettings) -> Any:
    """A malicious plant rewrites its reported parameters *after* the honest clipping mod.

    An attacker controls its own machine, so it does not clip its own update: only what the
    server (bucketing, robust rules, SecAgg+'s clipping range) enforces can contain it.
    """
    behaviours = {m.plant: m.behaviour for m in settings.malicious}

    def mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
        out = call_next(msg, ctxt)
        behaviour = behaviours.get(int(ctxt.node_config.get("partition-id", -1)))
        if behaviour is None or msg.metadata.message_type != MessageType.TRAIN:
            return out
        if out.has_error():
            return out
        fit_ins = compat.recorddict_to_fitins(msg.content, keep_input=True)
        fit_res = compat.recorddict_to_fitres(out.content, keep_input=True)
        poisoned = behaviour.poison_update(
            parameters_to_ndarrays(fit_ins.parameters), parameters_to_ndarrays(fit_res.parameters)
        )
        fit_res.parameters = ndarrays_to_parameters(poisoned)
        out.content = compat.fitres_to_recorddict(fit_res, keep_input=True)
        return out

    return mod


def make_client_app(
    settings: ClientSettings | None = None, *, schemas: tuple[DatasetSchema, ...] = ()
) -> ClientApp:
    """The plants' ClientApp.

    With ``settings`` (simulation) the partition id picks the plant; without (deployment
    engine) each SuperNode's ``--node-config "db-url='...' plant-id='...'"`` does, and the
    plant reads its rows by the one of ``schemas`` the run trains on (AI4I 2020 when none is
    given; ``fl plant --schema``, repeated for a plant with rows of several schemas).
    """

    def client_fn(context: Context) -> Any:
        if settings is None:
            cfg = context.node_config
            client = PlantClient(
                partition=int(cfg.get("partition-id", 0)),
                plant_id=str(cfg["plant-id"]),
                db_url=str(cfg["db-url"]),
                behaviour=None,
                drops_out=False,
                schemas=schemas,
            )
            return client.to_client()
        partition = int(context.node_config["partition-id"])
        behaviours = {m.plant: m.behaviour for m in settings.malicious}
        client = PlantClient(
            partition=partition,
            plant_id=settings.plant_ids[partition],
            db_url=settings.db_url,
            behaviour=behaviours.get(partition),
            drops_out=partition in settings.dropout,
            schemas=(settings.schema,),
        )
        return client.to_client()

    mods: list[Mod] = [_secure_mod, _clipping_mod]
    if settings is not None and settings.malicious:
        mods.insert(1, _attack_mod(settings))
    return ClientApp(client_fn=client_fn, mods=mods)
