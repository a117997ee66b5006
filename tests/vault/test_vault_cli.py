"""``edgeshield vault`` commands end to end through ``run(argv)``, and their bad inputs."""

from __future__ import annotations

from pathlib import Path

import model_signing
import pytest
import torch
from safetensors.torch import load_file, save_file

from edgeshield.cli import run
from edgeshield.vault import inspect_bundle


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at the terminal width; long tmp paths must not break the assertions."""
    monkeypatch.setenv("COLUMNS", "300")


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """Owner and device keys, a safetensors model and a sealed bundle with its licence."""
    save_file(
        {"w": torch.arange(40, dtype=torch.float32), "b": torch.ones(3)},
        str(tmp_path / "m.safetensors"),
    )
    assert run(["vault", "keygen", "--kind", "owner", "--out", str(tmp_path / "owner")]) == 0
    assert run(["vault", "keygen", "--kind", "device", "--out", str(tmp_path / "dev")]) == 0
    assert run(["vault", "keygen", "--out", str(tmp_path / "dev2")]) == 0
    code = run(
        [
            "vault",
            "seal",
            str(tmp_path / "m.safetensors"),
            "--out",
            str(tmp_path / "m.esb"),
            "--owner-key",
            str(tmp_path / "owner.pem"),
            "--recipient",
            str(tmp_path / "dev.pub.pem"),
            "--model-id",
            "classifier",
            "--chunk-size",
            "64",
            "--meta",
            "plant=all",
        ]
    )
    assert code == 0
    code = run(
        [
            "vault",
            "licence",
            "issue",
            "--owner-key",
            str(tmp_path / "owner.pem"),
            "--device-public",
            str(tmp_path / "dev.pub.pem"),
            "--bundle",
            str(tmp_path / "m.esb"),
            "--valid-from",
            "2020-01-01T00:00:00+00:00",
            "--days",
            "36500",
            "--quota",
            "100",
            "--out",
            str(tmp_path / "lic.txt"),
        ]
    )
    assert code == 0
    return tmp_path


def open_args(d: Path, *extra: str) -> list[str]:
    return [
        "vault",
        "open",
        str(d / "m.esb"),
        "--out",
        str(d / "opened.safetensors"),
        "--device-key",
        str(d / "dev.pem"),
        "--owner-public",
        str(d / "owner.pub.pem"),
        *extra,
    ]


def test_seal_open_round_trip(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(open_args(setup, "--licence", str(setup / "lic.txt"))) == 0
    assert "opened 2 tensors" in capsys.readouterr().out
    assert torch.equal(
        load_file(str(setup / "opened.safetensors"))["w"], torch.arange(40, dtype=torch.float32)
    )


def test_inspect_and_verify(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["vault", "inspect", str(setup / "m.esb")]) == 0
    out = capsys.readouterr().out
    assert "classifier" in out
    assert "not verified" in out
    assert inspect_bundle(setup / "m.esb").model_digest in out
    assert (
        run(
            [
                "vault",
                "verify",
                str(setup / "m.esb"),
                "--owner-public",
                str(setup / "owner.pub.pem"),
            ]
        )
        == 0
    )
    assert "OK" in capsys.readouterr().out


def test_licence_show(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert (
        run(
            [
                "vault",
                "licence",
                "show",
                str(setup / "lic.txt"),
                "--owner-public",
                str(setup / "owner.pub.pem"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "100" in out
    assert inspect_bundle(setup / "m.esb").model_digest in out


def test_licence_with_ledger_reference(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "vault",
        "licence",
        "issue",
        "--owner-key",
        str(setup / "owner.pem"),
        "--device-public",
        str(setup / "dev.pub.pem"),
        "--model-digest",
        "ab" * 32,
        "--contract-address",
        "0x" + "12" * 20,
        "--ledger-licence-id",
        "3",
        "--out",
        str(setup / "l2.txt"),
    ]
    assert run(args) == 0
    capsys.readouterr()
    assert (
        run(
            [
                "vault",
                "licence",
                "show",
                str(setup / "l2.txt"),
                "--owner-public",
                str(setup / "owner.pub.pem"),
            ]
        )
        == 0
    )
    assert "#3" in capsys.readouterr().out


def test_passphrase_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VAULT_PASS", "s3cret")
    assert (
        run(
            [
                "vault",
                "keygen",
                "--kind",
                "owner",
                "--out",
                str(tmp_path / "o"),
                "--passphrase-env",
                "VAULT_PASS",
            ]
        )
        == 0
    )
    assert b"ENCRYPTED" in (tmp_path / "o.pem").read_bytes()
    capsys.readouterr()
    args = [
        "vault",
        "licence",
        "issue",
        "--owner-key",
        str(tmp_path / "o.pem"),
        "--device-public",
        str(tmp_path / "o.pub.pem"),
        "--model-digest",
        "ab" * 32,
        "--out",
        str(tmp_path / "l.txt"),
    ]
    assert run(args) == 1
    assert "encrypted: give its passphrase" in capsys.readouterr().err
    assert run([*args, "--passphrase-env", "UNSET_VARIABLE_X"]) == 1
    assert "UNSET_VARIABLE_X is not set" in capsys.readouterr().err


def test_sign_manifest_verifies_with_model_signing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "export"
    model.mkdir()
    save_file({"w": torch.ones(2)}, str(model / "model.safetensors"))
    assert run(["vault", "keygen", "--kind", "manifest", "--out", str(tmp_path / "ec")]) == 0
    assert run(["vault", "sign-manifest", str(model), "--key", str(tmp_path / "ec.pem")]) == 0
    model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=tmp_path / "ec.pub.pem"
    ).verify(model, model / "model.sig")
    capsys.readouterr()
    assert (
        run(["vault", "verify-manifest", str(model), "--public-key", str(tmp_path / "ec.pub.pem")])
        == 0
    )
    (model / "model.safetensors").write_bytes(b"tampered")
    assert (
        run(["vault", "verify-manifest", str(model), "--public-key", str(tmp_path / "ec.pub.pem")])
        == 1
    )
    assert "does not match" in capsys.readouterr().err


def error_of(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 1) -> str:
    capsys.readouterr()
    assert run(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ")
    assert "Traceback" not in err
    return err


def test_open_errors(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "requires a licence" in error_of(capsys, open_args(setup))
    bad = open_args(setup, "--licence", str(setup / "lic.txt"))
    bad[bad.index(str(setup / "dev.pem"))] = str(setup / "dev2.pem")
    assert "not sealed for this device" in error_of(capsys, bad)
    (setup / "m.esb").write_bytes((setup / "m.esb").read_bytes()[:-1])
    assert "integrity check" in error_of(
        capsys, open_args(setup, "--licence", str(setup / "lic.txt"))
    )
    assert "integrity check" in error_of(
        capsys,
        ["vault", "verify", str(setup / "m.esb"), "--owner-public", str(setup / "owner.pub.pem")],
    )
    assert "cannot read licence" in error_of(
        capsys, open_args(setup, "--licence", str(setup / "none.txt"))
    )


def test_bad_inputs(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = setup
    assert "cannot read bundle" in error_of(capsys, ["vault", "inspect", str(d / "absent.esb")])
    (d / "junk.esb").write_bytes(b"not a bundle")
    assert "integrity check" in error_of(capsys, ["vault", "inspect", str(d / "junk.esb")])
    assert "cannot read key file" in error_of(
        capsys, ["vault", "verify", str(d / "m.esb"), "--owner-public", str(d / "nokey.pem")]
    )
    assert "Ed25519 public key" in error_of(
        capsys, ["vault", "verify", str(d / "m.esb"), "--owner-public", str(d / "dev.pub.pem")]
    )
    seal = [
        "vault",
        "seal",
        str(d / "m.safetensors"),
        "--out",
        str(d / "x.esb"),
        "--owner-key",
        str(d / "owner.pem"),
        "--recipient",
        str(d / "dev.pub.pem"),
        "--model-id",
        "m",
    ]
    assert "chunk_size" in error_of(capsys, [*seal, "--chunk-size", "3"])
    assert "KEY=VALUE" in error_of(capsys, [*seal, "--meta", "novalue"])
    assert "cannot read model" in error_of(
        capsys, [*seal[:2], str(d / "absent.safetensors"), *seal[3:]]
    )
    (d / "bad.safetensors").write_bytes(b"\x00" * 20)
    assert "not a readable safetensors" in error_of(
        capsys, [*seal[:2], str(d / "bad.safetensors"), *seal[3:]]
    )
    assert "Invalid value" in error_of(capsys, [*seal, "--hash", "md5"], code=2)
    assert "X25519 public key" in error_of(
        capsys, [*seal[:-3], str(d / "owner.pub.pem"), "--model-id", "m"]
    )
    issue = [
        "vault",
        "licence",
        "issue",
        "--owner-key",
        str(d / "owner.pem"),
        "--device-public",
        str(d / "dev.pub.pem"),
        "--out",
        str(d / "l.txt"),
    ]
    assert "exactly one of --bundle" in error_of(capsys, issue)
    assert "model_digest" in error_of(capsys, [*issue, "--model-digest", "xyz"])
    assert "--days must be positive" in error_of(
        capsys, [*issue, "--model-digest", "ab" * 32, "--days", "0"]
    )
    assert "ISO 8601" in error_of(
        capsys, [*issue, "--model-digest", "ab" * 32, "--valid-from", "yesterday"]
    )
    assert "both --contract-address" in error_of(
        capsys, [*issue, "--model-digest", "ab" * 32, "--contract-address", "0x" + "1" * 40]
    )
    assert "contract_address" in error_of(
        capsys,
        [
            *issue,
            "--model-digest",
            "ab" * 32,
            "--contract-address",
            "0x1",
            "--ledger-licence-id",
            "1",
        ],
    )
    (d / "forged.txt").write_text("ESL1.abc.def")
    assert "licence" in error_of(
        capsys,
        [
            "vault",
            "licence",
            "show",
            str(d / "forged.txt"),
            "--owner-public",
            str(d / "owner.pub.pem"),
        ],
    )
    assert "not a model directory" in error_of(
        capsys, ["vault", "sign-manifest", str(d / "absent"), "--key", str(d / "owner.pem")]
    )
    assert "not an EC P-256" in error_of(
        capsys, ["vault", "sign-manifest", str(d), "--key", str(d / "owner.pem")]
    )
