"""The shipped contracts meet their requirements (`contracts/specs/*.props`) in every form."""

from __future__ import annotations

import pytest

from edgeshield.ledger import check_properties, load_contract, specs_dir

STEMS = ("model_registry", "model_licence", "federated_round_audit")


def _requirements(stem: str) -> list[str]:
    text = (specs_dir() / f"{stem}.props").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@pytest.mark.parametrize("form", ["yaml", "txt", "pnml", "ttl"])
@pytest.mark.parametrize("stem", STEMS)
def test_shipped_requirements_hold(stem: str, form: str) -> None:
    spec = load_contract(specs_dir() / f"{stem}.{form}")
    requirements = _requirements(stem)
    assert len(requirements) >= 5
    for verdict in check_properties(spec, requirements):
        assert verdict.holds, verdict.explain()
        assert verdict.complete
