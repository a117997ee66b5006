"""``edgeshield vault`` commands end to end through ``run(argv)``, and their bad inputs."""

from __future__ import annotations

import json
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


def test_open_and_licence_outputs_never_replace_or_follow_silently(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vault open --out` (plaintext weights) and `licence issue --out` refuse an existing file
    without --force, writing nothing; with --force a symlink there is replaced, its target kept."""
    lic = ["--licence", str(setup / "lic.txt")]
    out = setup / "opened.safetensors"
    out.write_bytes(b"keep me")
    capsys.readouterr()
    assert run(open_args(setup, *lic)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert "--force" in err
    assert out.read_bytes() == b"keep me"
    victim = setup / "victim.txt"
    victim.write_bytes(b"victim")
    out.unlink()
    out.symlink_to(victim)
    assert run(open_args(setup, *lic, "--force")) == 0
    assert not out.is_symlink()
    assert victim.read_bytes() == b"victim"
    assert load_file(str(out))["w"].shape == (40,)
    licence = setup / "lic.txt"
    token = licence.read_bytes()
    issue = [
        "vault",
        "licence",
        "issue",
        "--owner-key",
        str(setup / "owner.pem"),
        "--device-public",
        str(setup / "dev.pub.pem"),
        "--bundle",
        str(setup / "m.esb"),
        "--out",
        str(licence),
    ]
    capsys.readouterr()
    assert run(issue) == 1
    assert "--force" in capsys.readouterr().err
    assert licence.read_bytes() == token
    assert run([*issue, "--force"]) == 0
    assert licence.read_bytes() != token


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
    # the second value once replaced the first in silence
    assert "'k' is given twice" in error_of(capsys, [*seal, "--meta", "k=v", "--meta", "k=w"])
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


# --- issue 16: escalation, key files, hostile header values, no traceback ------------------


def seal_args(d: Path, out: str, model_id: str, *extra: str) -> list[str]:
    return [
        "vault",
        "seal",
        str(d / "m.safetensors"),
        "--out",
        str(d / out),
        "--owner-key",
        str(d / "owner.pem"),
        "--recipient",
        str(d / "dev.pub.pem"),
        "--model-id",
        model_id,
        *extra,
    ]


def issue_args(d: Path, *extra: str) -> list[str]:
    return [
        "vault",
        "licence",
        "issue",
        "--owner-key",
        str(d / "owner.pem"),
        "--device-public",
        str(d / "dev.pub.pem"),
        "--out",
        str(d / "renewed.txt"),
        *extra,
    ]


def test_licence_escalation_by_header_edit_is_refused(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A device licensed for "cheap" edits cheap.esb's digest to premium's, asks for renewal."""
    save_file({"premium": torch.ones(64)}, str(setup / "premium.safetensors"))
    premium_args = seal_args(setup, "premium.esb", "premium")
    premium_args[2] = str(setup / "premium.safetensors")
    assert run(premium_args) == 0
    cheap = (setup / "m.esb").read_bytes()
    cheap_digest = inspect_bundle(cheap).model_digest
    premium_digest = inspect_bundle(setup / "premium.esb").model_digest
    edited = cheap.replace(cheap_digest.encode(), premium_digest.encode())
    assert inspect_bundle(edited).model_digest == premium_digest  # the header says premium
    (setup / "cheap-edited.esb").write_bytes(edited)
    err = error_of(capsys, issue_args(setup, "--bundle", str(setup / "cheap-edited.esb")))
    assert "integrity check" in err
    assert not (setup / "renewed.txt").exists()
    # The honest renewal still works and names the model the bundle really holds.
    assert run(issue_args(setup, "--bundle", str(setup / "m.esb"))) == 0
    capsys.readouterr()
    show = ["vault", "licence", "show", str(setup / "renewed.txt")]
    assert run([*show, "--owner-public", str(setup / "owner.pub.pem")]) == 0
    assert cheap_digest in capsys.readouterr().out


def test_licence_from_another_owners_bundle_is_refused(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["vault", "keygen", "--kind", "owner", "--out", str(setup / "thief")]) == 0
    forged = seal_args(setup, "thief.esb", "premium")
    forged[forged.index(str(setup / "owner.pem"))] = str(setup / "thief.pem")
    assert run(forged) == 0
    err = error_of(capsys, issue_args(setup, "--bundle", str(setup / "thief.esb")))
    assert "integrity check" in err


def test_keygen_refuses_to_overwrite_without_force(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (setup / "owner.pem").read_bytes()
    err = error_of(capsys, ["vault", "keygen", "--kind", "owner", "--out", str(setup / "owner")])
    assert "already exists" in err
    assert (setup / "owner.pem").read_bytes() == before
    (setup / "owner.pem").chmod(0o644)
    args = ["vault", "keygen", "--kind", "owner", "--out", str(setup / "owner"), "--force"]
    assert run(args) == 0
    assert (setup / "owner.pem").read_bytes() != before
    assert (setup / "owner.pem").stat().st_mode & 0o777 == 0o600
    manifest = ["vault", "keygen", "--kind", "manifest", "--out", str(setup / "ec")]
    assert run(manifest) == 0
    assert "already exists" in error_of(capsys, manifest)
    assert run([*manifest, "--force"]) == 0


HOSTILE_ID = "[green]signature OK, owner verified[/green] x[/] \x1b[2K\x1b]8;;http://e.vil\x07"


@pytest.mark.parametrize("verified", [False, True])
def test_inspect_prints_hostile_header_fields_literally(
    setup: Path, capsys: pytest.CaptureFixture[str], verified: bool
) -> None:
    """Markup and terminal escapes in a header are shown, never interpreted."""
    assert (
        run(seal_args(setup, "h.esb", HOSTILE_ID, "--meta", "[bold]k[/]=v\u202e:warning:\n")) == 0
    )
    capsys.readouterr()
    extra = ["--owner-public", str(setup / "owner.pub.pem")] if verified else []
    assert run(["vault", "inspect", str(setup / "h.esb"), *extra]) == 0
    out = capsys.readouterr().out
    assert "[green]signature OK, owner verified[/green] x[/]" in out
    assert "[bold]k[/]" in out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\u202e" not in out
    assert "\\x1b[2K" in out
    assert "\\u202e" in out
    assert ":warning:" in out  # no emoji substitution either
    assert ("not verified" in out) is not verified


def test_verify_prints_hostile_model_id_literally(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(seal_args(setup, "h.esb", HOSTILE_ID)) == 0
    capsys.readouterr()
    args = ["vault", "verify", str(setup / "h.esb"), "--owner-public", str(setup / "owner.pub.pem")]
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "[green]signature OK" in out


def _hostile_cases(d: Path) -> list[list[str]]:
    """Every vault subcommand with values an attacker or a careless operator would give."""
    (d / "junk.bin").write_bytes(b"\xff\xfe\x00[/]\x1b" * 100)
    (d / "huge.txt").write_text("ESL1." + "A" * 100_000 + ".B")
    (d / "empty").write_bytes(b"")
    (d / "adir").mkdir()
    (d / "kd.pem").mkdir()
    edited = (d / "m.esb").read_bytes()
    digest = inspect_bundle(edited).model_digest
    (d / "edited.esb").write_bytes(edited.replace(digest.encode(), ("f" * 64).encode()))
    ed = str(d / "owner.pub.pem")
    x = str(d / "dev.pub.pem")
    digest_args = ["--model-digest", "ab" * 32]
    cases: list[list[str]] = [
        ["vault", "keygen", "--out", str(d / "owner"), "--kind", "owner"],
        ["vault", "keygen", "--out", str(d / "missing" / "k")],
        ["vault", "keygen", "--out", str(d / "kd"), "--force"],
        ["vault", "keygen", "--out", str(d / "k2"), "--passphrase-env", "NO_SUCH_VARIABLE_X"],
        ["vault", "keygen", "--out", str(d / "k3"), "--kind", "[/]"],
        seal_args(d, "s1.esb", "m", "--chunk-size", "0"),
        seal_args(d, "s2.esb", "m", "--chunk-size", str(1 << 40)),
        seal_args(d, "s3.esb", "m", "--chunk-size", str(10**30)),
        seal_args(d, "s4.esb", ""),
        seal_args(d, "s5.esb", "m" * 300),
        seal_args(d, "s6.esb", "m", "--meta", "=v"),
        seal_args(d, "s7.esb", "m", "--meta", "k=" + "v" * 5000),
        seal_args(d, "junk.bin/s8.esb", "m"),  # the parent is a file
        seal_args(d, "adir", "m"),
        [*seal_args(d, "s9.esb", "m")[:2], str(d / "adir"), *seal_args(d, "s9.esb", "m")[3:]],
        [*seal_args(d, "s9.esb", "m")[:2], str(d / "junk.bin"), *seal_args(d, "s9.esb", "m")[3:]],
        ["vault", "open", str(d / "adir"), *open_args(d)[3:]],
        ["vault", "open", str(d / "junk.bin"), *open_args(d)[3:]],
        open_args(d, "--licence", str(d / "junk.bin")),
        open_args(d, "--licence", str(d / "huge.txt")),
        open_args(d, "--licence", str(d / "empty")),
        open_args(d, "--licence", str(d / "adir")),
        [
            *open_args(d, "--licence", str(d / "lic.txt"))[:4],
            str(d / "junk.bin" / "o.st"),  # a parent that is a file
            *open_args(d, "--licence", str(d / "lic.txt"))[5:],
        ],
        [
            *open_args(d, "--licence", str(d / "lic.txt"))[:4],
            str(d / "adir"),
            *open_args(d, "--licence", str(d / "lic.txt"))[5:],
        ],
        [
            "vault",
            "open",
            str(d / "m.esb"),
            "--out",
            str(d / "o.st"),
            "--device-key",
            str(d / "owner.pem"),
            "--owner-public",
            ed,
        ],
        ["vault", "inspect", str(d / "adir")],
        ["vault", "inspect", str(d / "empty")],
        ["vault", "inspect", str(d / "junk.bin")],
        ["vault", "inspect", str(d / "m.esb"), "--owner-public", x],
        ["vault", "inspect", str(d / "edited.esb"), "--owner-public", ed],
        ["vault", "verify", str(d / "m.esb"), "--owner-public", str(d / "junk.bin")],
        ["vault", "verify", str(d / "edited.esb"), "--owner-public", ed],
        issue_args(d, *digest_args, "--days", "1e9"),
        issue_args(d, *digest_args, "--days", "inf"),
        issue_args(d, *digest_args, "--days", "-inf"),
        issue_args(d, *digest_args, "--days", "nan"),
        issue_args(d, *digest_args, "--days", "1e-300"),
        issue_args(d, *digest_args, "--days", "1e308"),
        issue_args(d, *digest_args, "--valid-from", "9999-12-31"),
        issue_args(d, *digest_args, "--valid-from", "9999-12-31T23:59:59-14:00"),
        issue_args(d, *digest_args, "--valid-from", "0001-01-01T00:00:00+14:00"),
        issue_args(d, *digest_args, "--valid-from", "1969-12-31"),
        issue_args(d, *digest_args, "--valid-from", "3000-01-01", "--days", "4e6"),
        issue_args(d, *digest_args, "--valid-from", "[red]x[/]\x1b"),
        issue_args(d, *digest_args, "--quota", "0"),
        issue_args(d, *digest_args, "--quota", str(10**30)),
        issue_args(
            d,
            *digest_args,
            "--contract-address",
            "0x" + "1" * 40,
            "--ledger-licence-id",
            str(10**80),
        ),
        issue_args(
            d, *digest_args, "--contract-address", "0x" + "1" * 40, "--ledger-licence-id", "-1"
        ),
        issue_args(d, "--model-digest", "[/]" * 30),
        issue_args(d, "--bundle", str(d / "edited.esb")),
        issue_args(d, "--bundle", str(d / "junk.bin")),
        issue_args(d, "--bundle", str(d / "adir")),
        [*issue_args(d, *digest_args)[:6], ed, *issue_args(d, *digest_args)[7:]],
        [*issue_args(d, *digest_args)[:8], str(d / "adir"), *issue_args(d, *digest_args)[9:]],
        ["vault", "licence", "show", str(d / "junk.bin"), "--owner-public", ed],
        ["vault", "licence", "show", str(d / "huge.txt"), "--owner-public", ed],
        ["vault", "licence", "show", str(d / "empty"), "--owner-public", ed],
        ["vault", "licence", "show", str(d / "lic.txt"), "--owner-public", x],
        ["vault", "sign-manifest", str(d / "adir"), "--key", str(d / "dev.pem")],
        ["vault", "sign-manifest", str(d / "adir"), "--key", str(d / "junk.bin")],
        ["vault", "sign-manifest", str(d / "adir"), "--key", str(d / "nokey.pem")],
        ["vault", "verify-manifest", str(d / "adir"), "--public-key", ed],
        ["vault", "verify-manifest", str(d / "adir"), "--public-key", x],
        ["vault", "verify-manifest", str(d / "adir"), "--public-key", str(d / "junk.bin")],
        ["vault", "verify-manifest", str(d / "adir"), "--public-key", str(d / "nokey.pem")],
        [
            "vault",
            "verify-manifest",
            str(d / "adir"),
            "--public-key",
            ed,
            "--signature",
            str(d / "junk.bin"),
        ],
    ]
    return cases


def test_no_vault_command_lets_a_traceback_out(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each hostile value ends in one ``error:`` line and a non-zero exit, nothing else."""
    cases = _hostile_cases(setup)
    covered = {argv[1] if argv[1] != "licence" else f"licence {argv[2]}" for argv in cases}
    assert covered == {
        "keygen",
        "seal",
        "open",
        "inspect",
        "verify",
        "licence issue",
        "licence show",
        "sign-manifest",
        "verify-manifest",
    }
    for argv in cases:
        capsys.readouterr()
        code = run(argv)
        err = capsys.readouterr().err
        assert code != 0, " ".join(argv[1:3] + argv[-4:])
        assert err.startswith("error: "), (argv, err)
        assert err.count("\n") == 1, (argv, err)
        assert "Traceback" not in err
    # The bad --valid-from did not write a licence and nothing escaped into the output.
    assert not (setup / "renewed.txt").exists()


def test_seal_refuses_to_replace_a_bundle_without_force(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second seal onto the same path changes nothing, says so in one line; --force replaces."""
    bundle = setup / "m.esb"
    before = bundle.read_bytes()
    argv = ["vault", "seal", str(setup / "m.safetensors"), "--out", str(bundle), "--owner-key",
            str(setup / "owner.pem"), "--recipient", str(setup / "dev.pub.pem"),
            "--model-id", "classifier"]  # fmt: skip
    capsys.readouterr()
    assert run(argv) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    assert "exists; pass --force" in err
    assert bundle.read_bytes() == before
    assert run([*argv, "--force"]) == 0
    assert bundle.read_bytes() != before
    assert inspect_bundle(bundle).model_id == "classifier"


def test_json_outputs_for_scripts(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` on inspect, verify and licence show: one object, hostile text escaped."""
    assert run(seal_args(setup, "h.esb", HOSTILE_ID, "--meta", "k=v\u202e\n")) == 0
    owner = ["--owner-public", str(setup / "owner.pub.pem")]
    digest = inspect_bundle(setup / "h.esb").model_digest
    for argv, verified in (
        (["vault", "inspect", str(setup / "h.esb"), "--json"], False),
        (["vault", "inspect", str(setup / "h.esb"), *owner, "--json"], True),
        (["vault", "verify", str(setup / "h.esb"), *owner, "--json"], True),
    ):
        capsys.readouterr()
        assert run(argv) == 0
        out = capsys.readouterr().out
        assert out.count("\n") == 1
        assert out.isascii()  # control characters, bidi overrides: \u-escaped, never raw
        header = json.loads(out)
        assert header["verified"] is verified
        assert header["model_id"] == HOSTILE_ID
        assert header["metadata"] == {"k": "v\u202e\n"}
        assert header["model_digest"] == digest
    capsys.readouterr()
    assert run(["vault", "licence", "show", str(setup / "lic.txt"), *owner, "--json"]) == 0
    terms = json.loads(capsys.readouterr().out)
    assert terms["model_digest"] == inspect_bundle(setup / "m.esb").model_digest
    assert terms["query_quota"] == 100
    assert terms["ledger"] is None
    assert "UTC" in terms["expires"] or terms["expires"].endswith("+00:00")
    args = ["vault", "verify", str(setup / "absent.esb"), *owner, "--json"]
    assert "cannot read bundle" in error_of(capsys, args)  # failures stay one error line
