"""Every package exports a sorted ``__all__`` whose names all exist (httpx's convention)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import edgeshield

PACKAGES = sorted(
    ["edgeshield", "edgeshield.errors"]
    + [
        f"edgeshield.{info.name}"
        for info in pkgutil.iter_modules(edgeshield.__path__)
        if info.ispkg
    ]
)


def _isort_key(member: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then CamelCase classes, then functions and the rest."""
    if member.isupper() or (member.upper() == member and "_" in member):
        return (0, member)
    return (1, member) if member[:1].isupper() else (2, member)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert list(exported) == sorted(exported, key=_isort_key), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ names missing {member!r}"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and getattr(value, "__module__", name).startswith(name)
        and not isinstance(value, type(module))
        and attr != "annotations"
    }
    assert public <= set(module.__all__), (
        f"{name} has unexported public names: {public - set(module.__all__)}"
    )


def test_every_package_is_checked() -> None:
    assert {"edgeshield.usecase", "edgeshield.vault", "edgeshield.ledger"} <= set(PACKAGES)
