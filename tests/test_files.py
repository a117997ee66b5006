"""Small key and token files read without trusting the path: no FIFO hang, no /dev/zero OOM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeshield._files import read_small_file
from edgeshield.cli import run


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"x" * 70_000)
    assert read_small_file(path) == b"x" * 70_000
    assert read_small_file(path, limit=70_000) == b"x" * 70_000
    with pytest.raises(OSError, match="larger than 69,999 bytes"):
        read_small_file(path, limit=69_999)


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_anything_but_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    path = {"fifo": tmp_path / "fifo", "device": Path("/dev/zero"), "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(OSError, match=r"not a regular file|Is a directory"):
        read_small_file(path)  # a FIFO with no writer once blocked forever here


@pytest.mark.parametrize(
    "command",
    [
        ["vault", "licence", "show", "{bad}", "--owner-public", "{pub}"],
        ["vault", "licence", "show", "{token}", "--owner-public", "{bad}"],
        ["vault", "inspect", "{bad}"],
    ],
)
@pytest.mark.parametrize("bad", ["fifo", "/dev/zero"])
def test_vault_commands_refuse_fifos_and_devices_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], bad: str
) -> None:
    """/dev/zero as a key once grew until the kernel's OOM killer ended the process."""
    if bad == "fifo":
        bad = str(tmp_path / "fifo")
        os.mkfifo(bad)
    assert run(["vault", "keygen", "--kind", "owner", "--out", str(tmp_path / "owner")]) == 0
    token = tmp_path / "token"
    token.write_text("not a licence")
    names = {"bad": bad, "pub": str(tmp_path / "owner.pub.pem"), "token": str(token)}
    capsys.readouterr()
    assert run([part.format(**names) for part in command]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert "not a regular file" in err
    assert err.count("\n") == 1


def test_an_error_line_shows_control_characters_instead_of_sending_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A path holding a newline and terminal escapes once printed a forged second error line."""
    hostile = "nope\x1b[2J\x1b]0;PWNED\x07\nerror: fake second line"
    assert run(["vault", "inspect", hostile]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "\x1b" not in err
    assert "\x07" not in err
    assert "\\x1b[2J" in err
    assert "\\nerror: fake second line" in err


def test_vendor_key_is_not_replaced_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second `fl vendor-key` once replaced the key every plant trusts, silently."""
    out = tmp_path / "vk"
    assert run(["fl", "vendor-key", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert (out / "vendor.key").stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    assert run(["fl", "vendor-key", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: key file {out / 'vendor.key'} already exists"), err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert run(["fl", "vendor-key", "--out", str(out), "--force"]) == 0
    assert (out / "vendor.key").read_bytes() != before["vendor.key"]
    assert (out / "vendor.key").stat().st_mode & 0o777 == 0o600
