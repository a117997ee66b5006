"""Plants known by their registered key: the roster, and the ServerApp's selection from it.

The ServerApp tests drive the real ServerApp and ClientApp over an in-process grid that, like
Flower's deployment Runtime API, reports every node's registered key (``NodeInfo.public_key``)
and answers for a node that went offline with an error reply. The attacker holds a registered
SuperNode key and its own ``--node-config``; it claims another plant's ``plant-id``.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from flwr.app import Context, Message, RecordDict
from flwr.app.error import Error
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.proto.node_pb2 import NodeInfo
from flwr.supercore.task_identity import TaskIdentity

from edgeshield.errors import ConfigError, FederatedError
from edgeshield.federated import (
    FederatedConfig,
    PlantRoster,
    ServerPlan,
    generate_supernode_keys,
    get_arrays,
    key_fingerprint,
    make_client_app,
    make_server_app,
    write_flower_app,
)
from edgeshield.federated._engine import _LocalGrid
from edgeshield.federated._start import server_start
from edgeshield.usecase import FleetConfig, PlantDatabase, make_fleet, sqlite_url

FLEET = make_fleet(FleetConfig(plants=3, total_rows=1500), seed=2)
FLEET5 = make_fleet(FleetConfig(plants=5, total_rows=1500), seed=3)


def _pem(openssh: Path) -> bytes:
    """The key as Flower's SuperLink stores it (PEM SubjectPublicKeyInfo)."""
    key = serialization.load_ssh_public_key(openssh.read_bytes())
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _keys(tmp_path: Path, n: int) -> list[Path]:
    return [generate_supernode_keys(tmp_path / "keys", f"node{i}")[1] for i in range(n)]


def test_one_key_has_one_fingerprint_in_openssh_and_pem(tmp_path: Path) -> None:
    (pub,) = _keys(tmp_path, 1)
    assert key_fingerprint(pub.read_bytes()) == key_fingerprint(_pem(pub))
    assert key_fingerprint(pub.read_bytes()).startswith("sha256:")
    with pytest.raises(ConfigError, match="not a SuperNode public key"):
        key_fingerprint(b"ssh-ed25519 AAAA garbage")


def test_a_second_registration_can_neither_take_a_plant_id_nor_rename_a_key(
    tmp_path: Path,
) -> None:
    honest, rogue = _keys(tmp_path, 2)
    roster = PlantRoster().with_plant("plant-1", honest.read_bytes())
    with pytest.raises(ConfigError, match="plant plant-1 is already in the roster"):
        roster.with_plant("plant-1", rogue.read_bytes())
    with pytest.raises(ConfigError, match="already registered as plant plant-1"):
        roster.with_plant("plant-2", _pem(honest))
    assert roster.plant_of(_pem(honest)) == "plant-1"
    assert roster.plant_of(_pem(rogue)) is None
    assert roster.plant_of(b"") is None
    with pytest.raises(ConfigError, match="plant id"):
        roster.with_plant("plant 2; rm", rogue.read_bytes())


def test_the_roster_file_round_trips_and_refuses_garbage(tmp_path: Path) -> None:
    keys = _keys(tmp_path, 2)
    file = tmp_path / "roster.json"
    assert PlantRoster.load(file) == PlantRoster()
    roster = PlantRoster().with_plant("plant-1", keys[0].read_bytes())
    roster.with_plant("plant-2", keys[1].read_bytes()).save(file)
    loaded = PlantRoster.load(file)
    assert loaded.plant_ids == ("plant-1", "plant-2")
    assert loaded.plant_of(_pem(keys[1])) == "plant-2"
    garbage: list[dict[str, object]] = [
        {"plants": []},
        {"version": 2, "plants": []},
        {"version": 1, "plants": 3},
    ]
    for bad in garbage:
        with pytest.raises(ConfigError):
            PlantRoster.from_dict(bad)
    file.write_text("{")
    with pytest.raises(ConfigError, match="cannot read the plant roster"):
        PlantRoster.load(file)


def test_an_app_needs_a_roster_with_enough_plants(tmp_path: Path) -> None:
    (pub,) = _keys(tmp_path, 1)
    one = PlantRoster().with_plant("plant-1", pub.read_bytes())
    with pytest.raises(ConfigError, match="roster holds 1 plants, the run needs 2"):
        write_flower_app(tmp_path / "app", FederatedConfig(plants=2), tmp_path / "run", roster=one)


class _KeyedGrid(_LocalGrid):
    """The in-process grid with registered node keys, node configs and dying nodes.

    ``lives[i]`` is how many messages node ``i`` answers before it dies (``None``: never);
    a dead node leaves ``get_nodes()`` and its messages get Flower's unavailable-node error.
    """

    def __init__(
        self,
        keys: list[bytes],
        configs: list[dict[str, bool | float | int | str]],
        lives: list[int | None],
        run_id: int,
    ) -> None:
        super().__init__(make_client_app(), len(keys), run_id)
        ids = list(self._nodes)
        self.keys = dict(zip(ids, keys, strict=True))
        self.lives = dict(zip(ids, lives, strict=True))
        for node, config in zip(ids, configs, strict=True):
            self._contexts[node] = Context(
                run_id=run_id, node_id=node, node_config=config, state=RecordDict(), run_config={}
            )
        self.delivered: Counter[int] = Counter()

    def _alive(self, node: int) -> bool:
        life = self.lives[node]
        return life is None or self.delivered[node] < life

    def get_node_ids(self) -> Iterable[int]:
        return [n for n in self._nodes if self._alive(n)]

    def get_nodes(self) -> Iterable[NodeInfo]:
        return [NodeInfo(node_id=n, public_key=self.keys[n]) for n in self.get_node_ids()]

    def _deliver(self, message: Message) -> Message:
        node = message.metadata.dst_node_id
        if not self._alive(node):
            return Message(
                Error(code=ErrorCode.NODE_UNAVAILABLE, reason="node unavailable"),
                reply_to=copy.deepcopy(message),
            )
        self.delivered[node] += 1
        return super()._deliver(message)


def _serve(config: FederatedConfig, grid: _KeyedGrid, roster: PlantRoster) -> ServerPlan:
    """Run the ServerApp with ``roster`` over ``grid``; the plan holds the rounds (or error)."""
    start = server_start(config)
    plan = ServerPlan(
        config=config,
        encoder=start.encoder,
        initial=get_arrays(start.model),
        names=list(start.model.state_dict().keys()),
        test_x=None,
        test_y=None,
        public_x=start.public_x,
        public_y=start.public_y,
        roster=roster,
    )
    TaskIdentity.task_id = 1
    TaskIdentity.run_id = grid.run.run_id
    TaskIdentity.node_id = SUPERLINK_NODE_ID
    context = Context(
        run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config={}
    )
    try:
        make_server_app(plan)(grid=grid, context=context)
    except FederatedError:
        assert plan.error is not None
    return plan


def _config(**fields: object) -> FederatedConfig:
    base: dict[str, object] = {
        "plants": 3,
        "rounds": 2,
        "local_epochs": 1,
        "reference_rows": 300,
        "pretraining": None,
        "stage_wait": 0.5,
    }
    return FederatedConfig(**(base | fields))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """Databases: the honest plants', the rogue's (120 rows it calls plant-1's), five plants'."""
    base = tmp_path_factory.mktemp("plants")
    honest, rogue = sqlite_url(base / "plants.sqlite"), sqlite_url(base / "rogue.sqlite")
    with PlantDatabase(honest) as db:
        db.write_fleet(FLEET.profiles, FLEET.frames)
    five = sqlite_url(base / "five.sqlite")
    with PlantDatabase(five) as db:
        db.write_fleet(FLEET5.profiles, FLEET5.frames)
    first = FLEET.profiles[0]
    with PlantDatabase(rogue) as db:
        db.write_plant(first.plant_id, FLEET.frames[first.plant_id].iloc[:120], first)
    return honest, rogue, five


def _node(plant: str, url: str, partition: int) -> dict[str, bool | float | int | str]:
    return {"plant-id": plant, "db-url": url, "partition-id": partition}


def _rows(plan: ServerPlan, plant: str) -> set[float]:
    return {r.plants[plant]["rows"] for r in plan.rounds}


def test_a_registered_rogue_outside_the_roster_is_never_sampled_nor_recorded(
    tmp_path: Path, databases: tuple[str, str, str]
) -> None:
    """Registered on the SuperLink (it holds a key) but not in the roster: never sampled."""
    honest, rogue, _ = databases
    keys = [_pem(k) for k in _keys(tmp_path, 4)]  # the rogue's key first: lowest node ID
    roster = PlantRoster()
    for plant, key in zip(FLEET.plant_ids, keys[1:], strict=True):
        roster = roster.with_plant(plant, key)
    nodes = [_node(FLEET.plant_ids[0], rogue, 0)]
    nodes += [_node(p, honest, i) for i, p in enumerate(FLEET.plant_ids)]
    grid = _KeyedGrid(keys, nodes, [None] * 4, run_id=11)
    plan = _serve(_config(secure=False), grid, roster)
    assert plan.error is None
    rogue_node = min(grid.keys)
    assert grid.delivered[rogue_node] == 0
    assert all(grid.delivered[n] > 0 for n in grid.keys if n != rogue_node)
    for record in plan.rounds:
        assert record.contributors == sorted(FLEET.plant_ids)
        assert record.absent == []
        assert sorted(record.plants) == sorted(FLEET.plant_ids)
    assert _rows(plan, FLEET.plant_ids[0]) != {24.0}  # not the rogue's 20 % of 120 rows


def test_a_roster_plant_claiming_another_plants_id_is_recorded_under_its_own(
    tmp_path: Path, databases: tuple[str, str, str]
) -> None:
    """The third registered plant says it is the first: it never overwrites that record."""
    honest, rogue, _ = databases
    keys = [_pem(k) for k in _keys(tmp_path, 3)]
    first, second, third = FLEET.plant_ids
    roster = PlantRoster().with_plant(first, keys[0]).with_plant(second, keys[1])
    roster = roster.with_plant(third, keys[2])
    nodes = [_node(first, honest, 0), _node(second, honest, 1), _node(first, rogue, 2)]
    grid = _KeyedGrid(keys, nodes, [None] * 3, run_id=12)
    plan = _serve(_config(secure=False, rounds=1), grid, roster)
    assert plan.error is None
    (record,) = plan.rounds
    assert record.contributors == [first, second, third]
    assert record.plants[third]["rows"] == 24.0  # the liar's own validation rows
    assert record.plants[first]["rows"] != 24.0


@pytest.mark.parametrize("life", [1, 2], ids=["before-sharing-keys", "after-sharing-keys"])
def test_a_plant_dying_mid_round_leaves_a_model_with_the_dropout_recorded(
    tmp_path: Path, databases: tuple[str, str, str], life: int
) -> None:
    """SecAgg+: the third plant dies after answering ``life`` stages of round 1 (setup; setup
    and key shares); round 1 finishes without it, round 2 waits, then goes on."""
    honest, _, _ = databases
    keys = [_pem(k) for k in _keys(tmp_path, 3)]
    roster = PlantRoster()
    for plant, key in zip(FLEET.plant_ids, keys, strict=True):
        roster = roster.with_plant(plant, key)
    nodes = [_node(p, honest, i) for i, p in enumerate(FLEET.plant_ids)]
    grid = _KeyedGrid(keys, nodes, [None, None, life], run_id=13)
    plan = _serve(_config(), grid, roster)
    assert plan.error is None
    assert plan.final is not None
    dead = FLEET.plant_ids[2]
    assert [r.absent for r in plan.rounds] == [[dead], [dead]]
    assert [r.participants for r in plan.rounds] == [2, 2]
    assert all(dead not in r.contributors for r in plan.rounds)


def test_two_plants_dying_mid_round_stop_the_run_without_a_model(
    tmp_path: Path, databases: tuple[str, str, str]
) -> None:
    honest, _, _ = databases
    keys = [_pem(k) for k in _keys(tmp_path, 3)]
    roster = PlantRoster()
    for plant, key in zip(FLEET.plant_ids, keys, strict=True):
        roster = roster.with_plant(plant, key)
    nodes = [_node(p, honest, i) for i, p in enumerate(FLEET.plant_ids)]
    grid = _KeyedGrid(keys, nodes, [None, 2, 2], run_id=14)
    plan = _serve(_config(), grid, roster)
    assert isinstance(plan.error, FederatedError)
    assert plan.final is None
    assert plan.rounds == []


def test_a_stage_with_fewer_than_min_plants_connected_fails_after_the_bounded_wait(
    tmp_path: Path, databases: tuple[str, str, str]
) -> None:
    honest, _, _ = databases
    keys = [_pem(k) for k in _keys(tmp_path, 3)]
    roster = PlantRoster()
    for plant, key in zip(FLEET.plant_ids, keys, strict=True):
        roster = roster.with_plant(plant, key)
    nodes = [_node(p, honest, i) for i, p in enumerate(FLEET.plant_ids)]
    grid = _KeyedGrid(keys, nodes, [None, 0, 0], run_id=15)  # two never came online
    plan = _serve(_config(), grid, roster)
    assert isinstance(plan.error, FederatedError)
    assert "only 1 of 3 plants connected after waiting 0.5 s; a stage needs at least 2" in str(
        plan.error
    )
    assert grid.delivered[min(grid.keys)] == 0


def test_secagg_after_an_early_and_a_late_dropout_unmasks_the_survivors_sum(
    tmp_path: Path, databases: tuple[str, str, str]
) -> None:
    """Of five plants one dies before sharing its keys and one after: the SecAgg+ aggregate is
    the plain mean of the three survivors (up to quantization), not a halted or garbled sum."""
    five = databases[2]
    keys = [_pem(k) for k in _keys(tmp_path, 5)]
    roster = PlantRoster()
    for plant, key in zip(FLEET5.plant_ids, keys, strict=True):
        roster = roster.with_plant(plant, key)
    nodes = [_node(p, five, i) for i, p in enumerate(FLEET5.plant_ids)]
    config = _config(plants=5, rounds=1)
    secure = _serve(config, _KeyedGrid(keys, nodes, [None, None, None, 1, 2], 21), roster)
    plain_grid = _KeyedGrid(keys, nodes, [None, None, None, 0, 0], 22)
    plain = _serve(_config(plants=5, rounds=1, secure=False), plain_grid, roster)
    assert secure.error is None
    assert plain.error is None
    assert secure.final is not None
    assert plain.final is not None
    assert secure.rounds[0].contributors == plain.rounds[0].contributors == FLEET5.plant_ids[:3]
    for s_array, p_array in zip(secure.final, plain.final, strict=True):
        assert abs(s_array - p_array).max() < 1e-3
