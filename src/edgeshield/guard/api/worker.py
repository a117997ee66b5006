"""The light application factory each uvicorn worker process imports.

Why: ``uvicorn --workers N`` starts every worker in a fresh interpreter that imports the
factory's module. This one imports the guard and nothing else of EdgeShield (no CLI, no
ledger unless the licence asks for the gate), so a worker answers uvicorn's health check in
time, and it restores the recursion limit before serving. Settings come from the
``EDGESHIELD_GUARD_*`` environment that ``edgeshield guard serve`` validated.
"""

from __future__ import annotations

from fastapi import FastAPI

from edgeshield.guard._settings import GuardSettings
from edgeshield.guard.api._body import restore_recursion_limit
from edgeshield.guard.api.app import create_app

__all__ = ["create_worker_app"]


def create_worker_app() -> FastAPI:
    """One worker's application, built from the environment (``uvicorn --factory``)."""
    app = create_app(GuardSettings())
    restore_recursion_limit()  # after building: the ledger gate may have loaded py_ecc
    return app
