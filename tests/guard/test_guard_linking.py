"""Keys asking near-duplicate rows are linked; independent plants are not."""

from __future__ import annotations

import pytest
from guard_kit import Kit, make_service

from edgeshield.errors import ConfigError
from edgeshield.guard import GuardConfig, OutputTier, SensorRecord, records_from_frame
from edgeshield.guard._linking import linked_clients
from edgeshield.usecase import GeneratorConfig, generate


def test_two_keys_of_one_thief_are_linked_and_honest_plants_are_not(
    kit: Kit, tmp_path: object
) -> None:
    tiers = {name: OutputTier.LABEL_ONLY for name in ("key-a", "key-b", "plant-1", "plant-2")}
    service, keys = make_service(
        kit, f"sqlite:///{tmp_path}/s.db", tiers=tiers, config=GuardConfig()
    )
    rows = generate(GeneratorConfig(rows=400), seed=31)
    shifted = rows.assign(**{"Air temperature [K]": rows["Air temperature [K]"] + 0.1})
    frames = {
        "key-a": rows,
        "key-b": shifted,
        "plant-1": generate(GeneratorConfig(rows=400), seed=32),
        "plant-2": generate(GeneratorConfig(rows=400), seed=33),
    }
    for name, frame in frames.items():
        records = [SensorRecord.model_validate(r) for r in records_from_frame(frame)]
        for i in range(0, len(records), 100):
            service.predict(keys[name], records[i : i + 100])
    links = linked_clients(service.store)
    assert [(x.first, x.second) for x in links] == [("key-a", "key-b")]
    assert links[0].share > 0.9
    loose = linked_clients(service.store, min_shared=1, min_share=0.01)
    assert (
        max(x.share for x in loose if x.first.startswith("plant") or x.second.startswith("plant"))
        < 0.2
    )
    with pytest.raises(ConfigError):
        linked_clients(service.store, distance=0)
