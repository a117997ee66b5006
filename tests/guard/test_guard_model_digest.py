"""One model digest everywhere (issue 20): card, bundle header, licence, guard health, commitment.

The same trained model once showed three "model digests"; the model card, ``vault seal`` of
the card's weights file, ``guard seal`` of the model directory, the licence issued for the
bundle, the guard's health details and the ownership commitment must all name it by one string.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from guard_kit import OPERATOR_TOKEN, SECRET, Kit

from edgeshield.cli import run
from edgeshield.errors import ModelError
from edgeshield.guard import ClientRegistry, GuardService, GuardStore, create_app, open_classifier
from edgeshield.ownership import WatermarkKey, commitment
from edgeshield.usecase import CARD_FILE, WEIGHTS_FILE, load_classifier, save_classifier
from edgeshield.vault import DeviceKey, OwnerPublicKey


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at the terminal width; long tmp paths must not break the assertions."""
    monkeypatch.setenv("COLUMNS", "300")


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert run(argv) == 0
    value = json.loads(capsys.readouterr().out)
    assert isinstance(value, dict)
    return value


def test_one_digest_from_card_to_health(
    kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = save_classifier(kit.classifier, tmp_path / "model")
    digest = json.loads((model / CARD_FILE).read_text())["model_digest"]
    assert digest == kit.classifier.model_digest == kit.digest  # kit.digest: sealed in process
    assert len(digest) == 64

    for kind in ("owner", "device"):
        assert run(["vault", "keygen", "--kind", kind, "--out", str(tmp_path / kind)]) == 0
    capsys.readouterr()
    keys = ["--owner-key", str(tmp_path / "owner.pem")]
    recipient = ["--recipient", str(tmp_path / "device.pub.pem")]
    guard_bundle, vault_bundle = tmp_path / "guard.esb", tmp_path / "vault.esb"
    assert run(["guard", "seal", str(model), "--out", str(guard_bundle), *keys, *recipient]) == 0
    assert f"model digest {digest}\n" in capsys.readouterr().out
    weights = str(model / WEIGHTS_FILE)  # a file with metadata: its sha256 is another thing
    argv = ["vault", "seal", weights, "--out", str(vault_bundle), *keys, *recipient]
    assert run([*argv, "--model-id", "m"]) == 0
    assert f"model digest {digest}\n" in capsys.readouterr().out
    for bundle in (guard_bundle, vault_bundle):
        header = _json(["vault", "inspect", str(bundle), "--json"], capsys)
        assert header["model_digest"] == digest

    licence = tmp_path / "device.licence"
    argv = [
        "vault",
        "licence",
        "issue",
        *keys,
        "--out",
        str(licence),
        "--bundle",
        str(guard_bundle),
    ]
    assert run([*argv, "--device-public", str(tmp_path / "device.pub.pem")]) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"model digest {digest}")
    owner_public = ["--owner-public", str(tmp_path / "owner.pub.pem")]
    shown = _json(["vault", "licence", "show", str(licence), *owner_public, "--json"], capsys)
    assert shown["model_digest"] == digest

    served = open_classifier(
        guard_bundle,
        device_key=DeviceKey.load(tmp_path / "device.pem"),
        owner_public_key=OwnerPublicKey.load(tmp_path / "owner.pub.pem"),
        licence=licence.read_text(),
    )
    service = GuardService(
        served,
        clients=ClientRegistry(),
        store=GuardStore(f"sqlite:///{tmp_path / 'state.db'}"),
        watermark_secret=SECRET,
    )
    client = TestClient(create_app(service=service, operator_token=OPERATOR_TOKEN))
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    assert client.get("/v1/health/details", headers=operator).json()["model_digest"] == digest

    key = WatermarkKey.generate()
    key.save(tmp_path / "watermark.key")
    argv = ["ownership", "commit", "--model", str(model), "--owner", "acme"]
    argv += ["--key", str(tmp_path / "watermark.key"), "--log", str(tmp_path / "log.jsonl")]
    assert run(argv) == 0
    expected = commitment(key, bytes.fromhex(digest), "acme").hex()
    assert f"commitment {expected} " in capsys.readouterr().out


def test_a_card_naming_other_weights_is_refused(kit: Kit, tmp_path: Path) -> None:
    model = save_classifier(kit.classifier, tmp_path / "model")
    card = json.loads((model / CARD_FILE).read_text())
    card["model_digest"] = "00" * 32
    (model / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="names model digest 0000000000000000"):
        load_classifier(model)
    del card["model_digest"]  # a card written before the digest was recorded still loads
    (model / CARD_FILE).write_text(json.dumps(card))
    assert load_classifier(model).model_digest == kit.digest
