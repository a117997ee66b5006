"""The vendor's app signature and the plant's policy, without processes: the attacker's side."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key
from flwr.supercore.task_identity import TaskIdentity

from edgeshield.errors import ConfigError, PlantPolicyError, UntrustedAppError
from edgeshield.federated import (
    SIGNATURE_FILE,
    FederatedConfig,
    PlantPolicy,
    PlantRoster,
    generate_vendor_key,
    load_vendor_key,
    redact_urls,
    sign_app,
    verify_fab,
    write_flower_app,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Flower's FAB builder


def _fab(app: Path) -> bytes:
    from flwr.cli.build import build_fab_from_disk

    return build_fab_from_disk(app)


@pytest.fixture
def signed(tmp_path: Path, make_roster: Callable[[int], PlantRoster]) -> tuple[Path, Path]:
    """A signed app and the vendor's public key."""
    key, pub = generate_vendor_key(tmp_path / "vendor")
    app = write_flower_app(
        tmp_path / "app", FederatedConfig(plants=2), tmp_path / "run", roster=make_roster(2)
    )
    sign_app(app, key)
    return app, pub


def test_a_signed_app_verifies_as_flwr_run_builds_it(signed: tuple[Path, Path]) -> None:
    app, pub = signed
    assert len(verify_fab(_fab(app), load_vendor_key(pub))) == 64


def _rezip(fab: bytes, change: dict[str, bytes | None]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(fab)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            if name in change:
                if change[name] is not None:
                    dst.writestr(name, change[name])  # type: ignore[arg-type]
            else:
                dst.writestr(name, src.read(name))
        for name, data in change.items():
            if name not in src.namelist() and data is not None:
                dst.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "change",
    [
        {"edgeshield_fl_app.py": b"import os\nos.system('curl evil')\n"},  # foreign code
        {"evil.py": b"print('extra file')\n"},  # an added module
        {SIGNATURE_FILE: None},  # unsigned
        {SIGNATURE_FILE: b"{}"},  # malformed signature record
        {SIGNATURE_FILE: b"not json"},
    ],
)
def test_every_tampered_or_unsigned_app_raises_the_same_error(
    signed: tuple[Path, Path], change: dict[str, bytes | None]
) -> None:
    app, pub = signed
    with pytest.raises(UntrustedAppError, match="not signed by the vendor's key"):
        verify_fab(_rezip(_fab(app), change), load_vendor_key(pub))


def test_a_changed_config_or_another_signer_is_refused(
    tmp_path: Path, signed: tuple[Path, Path]
) -> None:
    app, pub = signed
    (app / "pyproject.toml").write_text((app / "pyproject.toml").read_text().replace("5", "6"))
    with pytest.raises(UntrustedAppError):
        verify_fab(_fab(app), load_vendor_key(pub))
    attacker_key, _ = generate_vendor_key(tmp_path / "attacker")
    sign_app(app, attacker_key)  # an outsider signs with its own key
    with pytest.raises(UntrustedAppError):
        verify_fab(_fab(app), load_vendor_key(pub))
    with pytest.raises(UntrustedAppError):
        verify_fab(b"not a zip", load_vendor_key(pub))


def test_keys_of_the_wrong_kind_are_config_errors(tmp_path: Path) -> None:
    from edgeshield.federated import generate_supernode_keys

    _, ecdsa_pub = generate_supernode_keys(tmp_path, "node")
    with pytest.raises(ConfigError, match="not an Ed25519"):
        load_vendor_key(ecdsa_pub)
    with pytest.raises(ConfigError, match="cannot read"):
        load_vendor_key(tmp_path / "missing.pub")


def _train(fit: dict[str, float] | None, *, staged: bool) -> Message:
    content = RecordDict()
    if staged:
        content.config_records[RECORD_KEY_CONFIGS] = ConfigRecord({Key.STAGE: "setup"})
    if fit is not None:
        content.config_records["fitins.config"] = ConfigRecord(fit)  # type: ignore[arg-type]
    return Message(content, dst_node_id=7, message_type=MessageType.TRAIN)


@pytest.fixture
def vendor(tmp_path: Path) -> PlantPolicy:
    # Messages stamp their source from the task identity, as run_in_process sets it.
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 1
    _, pub = generate_vendor_key(tmp_path)
    return PlantPolicy(vendor_key=load_vendor_key(pub), min_noise_multiplier=1.0, max_clip=1.0)


@pytest.mark.parametrize(
    ("fit", "staged", "match"),
    [
        ({"dp_noise": 1.5, "dp_clip": 1.0}, False, "SecAgg\\+ is required"),
        ({}, True, "noise multiplier >= 1.0"),
        ({"dp_noise": 0.5, "dp_clip": 1.0}, True, "noise multiplier >= 1.0"),
        ({"dp_noise": 1.5, "dp_clip": 4.0}, True, "clip <= 1.0"),
        # enough noise, but drawn from the run's seed, which the server knows
        ({"dp_noise": 1.5, "dp_clip": 1.0, "dp_reproducible": True}, True, "fresh DP noise"),
    ],
)
def test_a_server_asking_for_less_than_the_plant_policy_is_refused(
    vendor: PlantPolicy, fit: dict[str, float], staged: bool, match: str
) -> None:
    with pytest.raises(PlantPolicyError, match=match):
        vendor.check(_train(fit, staged=staged))


def test_the_policy_accepts_what_meets_it_and_key_exchange_stages(vendor: PlantPolicy) -> None:
    vendor.check(_train({"dp_noise": 1.0, "dp_clip": 0.5}, staged=True))
    vendor.check(_train(None, staged=True))  # SecAgg+ setup: no training, no data read


def test_database_credentials_are_redacted() -> None:
    text = "OperationalError: could not connect to postgresql+psycopg://reader:s3cret@db/plant1"
    assert redact_urls(text) == (
        "OperationalError: could not connect to postgresql+psycopg://***@db/plant1"
    )
    assert redact_urls("sqlite:///plants.db") == "sqlite:///plants.db"


def test_the_superlink_refuses_a_control_api_off_loopback(tmp_path: Path) -> None:
    from edgeshield.federated import generate_tls, serve_superlink

    tls = generate_tls(tmp_path)
    args = ["--ssl-ca-certfile", str(tls.ca_cert), "--ssl-certfile", str(tls.server_cert)]
    args += ["--ssl-keyfile", str(tls.server_key), "--database", ":flwr-in-memory:"]
    with pytest.raises(ConfigError, match="must be a loopback address"):
        serve_superlink(
            [*args, "--host", "0.0.0.0", "--port", "9091"], fleet_host="0.0.0.0", fleet_port=9092
        )
    with pytest.raises(ConfigError, match="must differ"):
        serve_superlink(
            [*args, "--host", "127.0.0.1", "--port", "9092"],
            fleet_host="127.0.0.1",
            fleet_port=9092,
        )


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        (None, "is not a Flower App: it has no pyproject.toml"),
        ("garbage", "pyproject.toml is not readable TOML"),
    ],
)
def test_signing_what_is_not_an_app_is_refused_and_keeps_the_old_signature(
    signed: tuple[Path, Path], tmp_path: Path, pyproject: str | None, message: str
) -> None:
    app, _ = signed
    before = (app / SIGNATURE_FILE).read_bytes()
    (key,) = (tmp_path / "vendor").glob("*.key")
    if pyproject is None:
        (app / "pyproject.toml").unlink()
    else:
        (app / "pyproject.toml").write_text(pyproject)
    with pytest.raises(ConfigError, match=message):
        sign_app(app, key)
    assert (app / SIGNATURE_FILE).read_bytes() == before
    with pytest.raises(ConfigError, match="is not a directory"):
        sign_app(tmp_path / "absent", key)
