"""Helpers shared by the guard and red-team tests: a small trained model sealed for a device."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import torch

from edgeshield.guard import (
    ClientRegistry,
    GuardConfig,
    GuardService,
    GuardStore,
    OutputTier,
    open_classifier,
    seal_classifier,
)
from edgeshield.usecase import (
    FailureClassifier,
    FleetConfig,
    TrainConfig,
    make_fleet,
    train_classifier,
)
from edgeshield.vault import DeviceKey, LedgerRef, OwnerKey, inspect_bundle, issue_licence

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECRET = b"guard-test-watermark-secret-0123456789abcdef"


def fixed_clock(when: datetime = NOW) -> Callable[[], datetime]:
    return lambda: when


@dataclass(frozen=True)
class Kit:
    owner: OwnerKey
    device: DeviceKey
    classifier: FailureClassifier
    bundle: bytes
    digest: str
    frames: dict[str, pd.DataFrame]

    def licence(self, *, quota: int | None = 100_000, days: int = 30) -> str:
        return issue_licence(
            self.owner,
            device=self.device.public_key(),
            model_digest=self.digest,
            not_before=NOW - timedelta(days=1),
            expires=NOW + timedelta(days=days),
            query_quota=quota,
        )


def build_kit() -> Kit:
    torch.set_num_threads(1)
    fleet = make_fleet(FleetConfig(plants=3, total_rows=4000, min_rows=200), seed=0)
    train = pd.concat([fleet.frames["plant-1"], fleet.frames["plant-2"]], ignore_index=True)
    classifier = train_classifier(train, TrainConfig(epochs=15), seed=0)
    owner, device = OwnerKey.generate(), DeviceKey.generate()
    bundle = seal_classifier(
        classifier,
        owner_key=owner,
        recipients=[device.public_key()],
        model_id="failure-classifier",
        clock=fixed_clock(),
    )
    return Kit(
        owner=owner,
        device=device,
        classifier=classifier,
        bundle=bundle,
        digest=inspect_bundle(bundle).model_digest,
        frames=dict(fleet.frames),
    )


def make_service(
    kit: Kit,
    db_url: str,
    *,
    tiers: dict[str, OutputTier] | None = None,
    quota: int | None = 100_000,
    config: GuardConfig | None = None,
    rate: float = 1e6,
    burst: float = 1e6,
    clock: Callable[[], float] | None = None,
    keys: dict[str, str] | None = None,
) -> tuple[GuardService, dict[str, str]]:
    """A service with one client per tier; returns it and the clients' API keys."""
    registry = ClientRegistry()
    issued: dict[str, str] = {}
    for client_id, tier in (tiers or {"alice": OutputTier.FULL}).items():
        key = (keys or {}).get(client_id)
        issued[client_id] = registry.add(
            client_id, tier=tier, rate_per_s=rate, burst=burst, key=key
        )
    model = open_classifier(
        kit.bundle,
        device_key=kit.device,
        owner_public_key=kit.owner.public_key(),
        licence=kit.licence(quota=quota),
        clock=fixed_clock(),
    )
    kwargs = {} if clock is None else {"clock": clock}
    service = GuardService(
        model,
        clients=registry,
        store=GuardStore(db_url),
        watermark_secret=SECRET,
        config=config,
        licence_clock=fixed_clock(),
        **kwargs,
    )
    return service, issued


@dataclass(frozen=True)
class Deployment:
    """Files for ``edgeshield guard serve`` and the keys of its clients."""

    args: list[str]
    env: dict[str, str]
    keys: dict[str, str]
    db_url: str


def write_deployment(
    kit: Kit,
    directory: Path,
    *,
    tiers: dict[str, OutputTier],
    rate: float = 1e6,
    quota: int | None = 1_000_000,
    limits: dict[str, dict[str, float | int | None]] | None = None,
    db_url: str | None = None,
    ledger: LedgerRef | None = None,
) -> Deployment:
    """Bundle, keys, licence (valid around the real now) and client file under ``directory``."""
    real_now = datetime.now(UTC)
    bundle = directory / "model.bundle"
    bundle.write_bytes(kit.bundle)
    kit.device.save(directory / "device.pem")
    kit.owner.public_key().save(directory / "owner.pub.pem")
    licence = issue_licence(
        kit.owner,
        device=kit.device.public_key(),
        model_digest=kit.digest,
        not_before=real_now - timedelta(days=1),
        expires=real_now + timedelta(days=1),
        query_quota=quota,
        ledger=ledger,
    )
    (directory / "licence.txt").write_text(licence)
    registry = ClientRegistry()
    keys = {
        c: registry.add(
            c, tier=t, **{"rate_per_s": rate, "burst": rate, **(limits or {}).get(c, {})}
        )  # type: ignore[arg-type]
        for c, t in tiers.items()
    }
    registry.save(directory / "clients.json")
    db_url = db_url or f"sqlite:///{directory / 'state.db'}"
    args = [
        "--bundle", str(bundle),
        "--device-key", str(directory / "device.pem"),
        "--owner-public", str(directory / "owner.pub.pem"),
        "--licence", str(directory / "licence.txt"),
        "--clients", str(directory / "clients.json"),
        "--db", db_url,
    ]  # fmt: skip
    return Deployment(
        args=args, env={"EDGESHIELD_GUARD_WATERMARK_SECRET": SECRET.decode()}, keys=keys,
        db_url=db_url,
    )  # fmt: skip


OPERATOR_TOKEN = "operator-token-for-the-guard-tests-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GuardProcess:
    """``edgeshield guard serve`` as a child process (the CLI, as an operator starts it)."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.deployment = deployment
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.env = {
            **os.environ,
            **deployment.env,
            "EDGESHIELD_GUARD_OPERATOR_TOKEN": OPERATOR_TOKEN,
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, within_s: float = 240.0) -> GuardProcess:
        command = [sys.executable, "-c", "from edgeshield.cli import main; main()", "guard"]
        self.proc = subprocess.Popen(
            [*command, "serve", *self.deployment.args, "--port", str(self.port), *self.extra_args],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + within_s  # a readiness bound, not a timing assertion
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"guard did not start within {within_s} s: {self.output()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self, *, tail: int | None = 4000) -> str:
        """What the server printed (its last ``tail`` characters; ``None``: all of it)."""
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return text if tail is None else text[-tail:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=60)
        self.log.close()
