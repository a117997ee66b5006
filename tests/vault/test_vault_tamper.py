"""Tamper sweep: over a thousand altered bundles, each refused with IntegrityError, none loads.

Cases: a single-bit flip in every byte of the bundle, chunk swaps, duplications and drops,
truncations, extensions, header edits (with and without the attacker re-signing), signature
and trailer swaps, recipient-list edits, and the licence-escalation edits of issue 16 (the
header made to name another model: edited, re-signed, spliced). ``verify_bundle`` (no device key)
must refuse them too.

Issue 16 also puts here, through the CLI: the escalation cases given to ``licence issue
--bundle``; hostile text (markup, terminal escapes, bidi controls, lone surrogates, maximal
lengths) in every header text field, sealed by the owner, edited, or re-signed by an
attacker, through every vault command that reads a bundle; and hostile key-file targets
(symlinks, dangling symlinks, 0644 files, directories) for ``keygen`` with and without
``--force``. Each case checks the outcome: exit code, one ``error:`` line, the files on disk,
no control character in the output.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import torch
from vault_helpers import World, fixed_clock, make_licence

from edgeshield.errors import ConfigError, IntegrityError
from edgeshield.vault import (
    DeviceKey,
    OwnerKey,
    OwnerPublicKey,
    SealOptions,
    inspect_bundle,
    open_bundle,
    read_licence,
    seal,
    verify_bundle,
)
from edgeshield.vault._format import (
    INTEGRITY_MESSAGE,
    PREFIX_SIZE,
    TAG_SIZE,
    TRAILER_SIZE,
    signed_message,
)


class Parts:
    """The bundle cut at its structural boundaries."""

    def __init__(self, bundle: bytes) -> None:
        (self.header_length,) = struct.unpack(">I", bundle[12:16])
        self.prefix = bundle[:PREFIX_SIZE]
        self.header = bundle[PREFIX_SIZE : PREFIX_SIZE + self.header_length]
        body = bundle[PREFIX_SIZE + self.header_length : -TRAILER_SIZE]
        self.trailer = bundle[-TRAILER_SIZE:]
        raw = json.loads(self.header)
        size, chunk = raw["payload_size"], raw["chunk_size"]
        self.chunks: list[bytes] = []
        position = 0
        while position < len(body):
            length = min(chunk, size) + TAG_SIZE
            self.chunks.append(body[position : position + length])
            position += length
            size -= chunk
        assert b"".join(self.chunks) == body

    def join(
        self,
        header: bytes | None = None,
        chunks: list[bytes] | None = None,
        trailer: bytes | None = None,
    ) -> bytes:
        header = self.header if header is None else header
        prefix = self.prefix[:12] + struct.pack(">I", len(header))
        return (
            prefix
            + header
            + b"".join(self.chunks if chunks is None else chunks)
            + (self.trailer if trailer is None else trailer)
        )


def edited_header(parts: Parts, edit: dict[str, object]) -> bytes:
    raw = json.loads(parts.header)
    raw.update(edit)
    return json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()


def resigned(parts: Parts, header: bytes, attacker: OwnerKey) -> bytes:
    """The attacker edits the header and signs the result with their own key."""
    import blake3

    bundle = parts.join(header=header)
    digest = blake3.blake3(bundle[: PREFIX_SIZE + len(header)]).digest()
    ciphertext_digest = parts.trailer[:32]
    signature = attacker.sign(signed_message(digest, ciphertext_digest))
    return bundle[:-TRAILER_SIZE] + ciphertext_digest + signature


def tampered(world: World) -> Iterator[tuple[str, bytes]]:
    bundle = world.bundle
    parts = Parts(bundle)
    chunks = parts.chunks
    count = len(chunks)
    assert count >= 20
    # 1. one bit flipped in every byte of the bundle, the bit chosen by the position.
    for position in range(len(bundle)):
        flipped = bytearray(bundle)
        flipped[position] ^= 1 << (position * 5 % 8)
        yield f"flip@{position}", bytes(flipped)
    # 2. chunk swaps, duplications, drops and reversal.
    for i in range(count - 1):
        swapped = list(chunks)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        yield f"swap {i}<->{i + 1}", parts.join(chunks=swapped)
    for i in range(0, count, 3):
        swapped = list(chunks)
        swapped[i], swapped[-1] = swapped[-1], swapped[i]
        yield f"swap {i}<->last", parts.join(chunks=swapped)
        yield f"drop {i}", parts.join(chunks=chunks[:i] + chunks[i + 1 :])
        yield f"duplicate {i}", parts.join(chunks=chunks[: i + 1] + chunks[i:])
    yield "reverse", parts.join(chunks=chunks[::-1])
    yield "drop final chunk", parts.join(chunks=chunks[:-1])
    # 3. truncation at many lengths, and extension.
    for length in range(0, len(bundle), 7):
        yield f"truncate to {length}", bundle[:length]
    yield "truncate one byte", bundle[:-1]
    for extra in (b"\x00", b"\x00" * 16, chunks[-1], bundle):
        yield f"append {len(extra)}", bundle + extra
    yield "extra chunk before trailer", parts.join(chunks=[*chunks, chunks[0]])
    yield "prepend", b"\x00" + bundle
    # 4. header edits (the attacker cannot re-sign with the owner's key).
    attacker = OwnerKey.generate()
    thief = DeviceKey.generate()
    raw = json.loads(parts.header)
    edits: list[dict[str, object]] = [
        {"model_id": "other-model"},
        {"licence_required": False},
        {"chunk_size": raw["chunk_size"] * 2},
        {"payload_size": raw["payload_size"] // 2},  # not one bit flip of a digit
        {"metadata": {"plant": "evil"}},
        {"created_at": raw["created_at"] + 1},
        {"model_digest": "0" * 64},
        {"owner_key_id": attacker.public_key().key_id},
        {"hash": "sha256"},
        {"hash": "blake3"},
        {"nonce_prefix": "00" * 7},
        {"tensors": raw["tensors"][:-1]},
        {"bundle_version": raw["bundle_version"] + 1},
        {"format": 1},
    ]
    for number, edit in enumerate(edits):
        header = edited_header(parts, edit)
        yield f"header edit {number}", parts.join(header=header)
        yield f"header edit {number} re-signed by attacker", resigned(parts, header, attacker)
    yield "header with a space", parts.join(header=parts.header.replace(b",", b", ", 1))
    yield "prefix version 1 (downgrade)", bundle[:8] + b"\x00\x01" + bundle[10:]
    yield "prefix version 3", bundle[:8] + b"\x00\x03" + bundle[10:]
    yield "prefix hash id sha256", bundle[:10] + b"\x01" + bundle[11:]
    yield "prefix hash id blake3", bundle[:10] + b"\x02" + bundle[11:]
    yield "prefix hash id 4 (unknown)", bundle[:10] + b"\x04" + bundle[11:]
    # 5. signature and trailer swaps with another bundle of the same owner.
    other = seal(
        {"w": torch.ones(40)},
        owner_key=world.owner,
        recipients=[world.device.public_key()],
        model_id="failure-classifier",
        options=SealOptions(chunk_size=64),
    )
    yield "signature from another bundle", bundle[:-64] + other[-64:]
    yield "trailer from another bundle", bundle[:-TRAILER_SIZE] + other[-TRAILER_SIZE:]
    yield "zero signature", bundle[:-64] + bytes(64)
    yield "other header, own chunks", Parts(other).join(chunks=chunks)
    yield "own header, other chunks", parts.join(chunks=Parts(other).chunks)
    # 6. recipient-list edits.
    recipients = raw["recipients"]
    wrapped_for_thief = json.loads(
        Parts(
            seal(
                {"w": torch.ones(1)},
                owner_key=attacker,
                recipients=[thief.public_key()],
                model_id="x",
            )
        ).header
    )["recipients"][0]
    recipient_edits: list[list[dict[str, str]]] = [
        recipients[1:],
        recipients[::-1],
        [*recipients, wrapped_for_thief],
        [{**recipients[0], "wrapped_key": recipients[1]["wrapped_key"]}, recipients[1]],
        [{**recipients[0], "ephemeral_key": recipients[1]["ephemeral_key"]}, recipients[1]],
        [{**wrapped_for_thief, "key_id": recipients[0]["key_id"]}, recipients[1]],
    ]
    for number, edit_list in enumerate(recipient_edits):
        header = edited_header(parts, {"recipients": edit_list})
        yield f"recipients edit {number}", parts.join(header=header)
        yield f"recipients edit {number} re-signed", resigned(parts, header, attacker)
    # 7. licence escalation: this bundle's bytes made to name another model of the same owner.
    yield from escalations(bundle, premium_bundle(world), attacker)


def test_tamper_sweep_every_case_is_refused(world: World) -> None:
    cases = list(tampered(world))
    assert len(cases) >= 1000
    assert len({data for _, data in cases}) == len(cases), "cases must all differ"
    licence = world.licence
    owner_public = world.owner.public_key()
    loaded = []
    for name, data in cases:
        assert data != world.bundle, name
        with pytest.raises(IntegrityError) as refused:
            loaded.append(
                open_bundle(
                    data,
                    device_key=world.device,
                    owner_public_key=owner_public,
                    licence=licence,
                    clock=fixed_clock(),
                )
            )
        assert str(refused.value) == INTEGRITY_MESSAGE, name
        with pytest.raises(IntegrityError):
            verify_bundle(data, owner_public_key=owner_public)
    assert not loaded


def test_all_integrity_messages_are_identical(world: World) -> None:
    messages = set()
    for _, data in list(tampered(world))[::25]:
        try:
            open_bundle(
                data,
                device_key=world.device,
                owner_public_key=world.owner.public_key(),
                licence=world.licence,
                clock=fixed_clock(),
            )
        except IntegrityError as exc:
            messages.add(str(exc))
    assert len(messages) == 1  # callers cannot tell which check failed


def test_thief_with_own_licence_still_cannot_open(world: World) -> None:
    thief = DeviceKey.generate()
    licence = make_licence(world.owner, thief, world.model_digest)
    parts = Parts(world.bundle)
    recipients = json.loads(parts.header)["recipients"]
    header = edited_header(
        parts, {"recipients": [*recipients, {**recipients[0], "key_id": thief.public_key().key_id}]}
    )
    with pytest.raises(IntegrityError):
        open_bundle(
            parts.join(header=header),
            device_key=thief,
            owner_public_key=world.owner.public_key(),
            licence=licence,
            clock=fixed_clock(),
        )


def test_key_holder_cannot_forge_chunks_past_the_signed_digest(world: World) -> None:
    """A device that knows the content key re-encrypts a chunk validly: the digest refuses it."""
    import io

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from edgeshield.vault._format import read_raw
    from edgeshield.vault._wrap import unwrap_key

    raw = read_raw(io.BytesIO(world.bundle), len(world.bundle))
    header = raw.decode()
    recipient = header.find_recipient(world.device.public_key().key_id)
    assert recipient is not None
    aead = AESGCM(unwrap_key(recipient, world.device))
    parts = Parts(world.bundle)
    index = len(parts.chunks) - 2
    plaintext = aead.decrypt(header.nonce(index), parts.chunks[index], raw.header_digest)
    forged_plaintext = bytes(b ^ 0xFF for b in plaintext)
    chunks = list(parts.chunks)
    chunks[index] = aead.encrypt(header.nonce(index), forged_plaintext, raw.header_digest)
    forged = parts.join(chunks=chunks)
    with pytest.raises(IntegrityError):
        open_bundle(
            forged,
            device_key=world.device,
            owner_public_key=world.owner.public_key(),
            licence=world.licence,
            clock=fixed_clock(),
        )
    with pytest.raises(IntegrityError):
        verify_bundle(forged, owner_public_key=world.owner.public_key())


# --- issue 16: escalation, hostile header text, hostile key-file targets -------------------


def premium_bundle(world: World) -> bytes:
    """A second model of the same owner for the same device: the one worth escalating to."""
    return seal(
        {"premium": torch.ones(64)},
        owner_key=world.owner,
        recipients=[world.device.public_key()],
        model_id="premium",
        options=SealOptions(chunk_size=64),
        clock=fixed_clock(),
    )


def escalations(cheap: bytes, premium: bytes, attacker: OwnerKey) -> Iterator[tuple[str, bytes]]:
    """Cheap's bytes made to claim premium's model digest: edited, re-signed, spliced."""
    ours, theirs = Parts(cheap), Parts(premium)
    claimed = edited_header(ours, {"model_digest": json.loads(theirs.header)["model_digest"]})
    yield "escalate: digest edited", ours.join(header=claimed)
    yield "escalate: digest edited, re-signed by attacker", resigned(ours, claimed, attacker)
    yield (
        "escalate: digest edited, premium trailer",
        ours.join(header=claimed, trailer=theirs.trailer),
    )
    yield (
        "escalate: digest edited, premium chunks and trailer",
        ours.join(header=claimed, chunks=theirs.chunks, trailer=theirs.trailer),
    )
    yield "escalate: premium header, cheap chunks", theirs.join(chunks=ours.chunks)
    yield (
        "escalate: premium header, cheap chunks and trailer",
        theirs.join(chunks=ours.chunks, trailer=ours.trailer),
    )
    yield (
        "escalate: premium header and signature, cheap ciphertext digest",
        theirs.join(chunks=ours.chunks, trailer=ours.trailer[:32] + theirs.trailer[32:]),
    )
    yield (
        "escalate: cheap header, premium chunks and trailer",
        ours.join(chunks=theirs.chunks, trailer=theirs.trailer),
    )


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run one CLI command in-process; return its exit code, stdout and stderr."""
    from edgeshield.cli import run

    capsys.readouterr()
    code = run(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(outcome: tuple[int, str, str], *needles: str) -> None:
    """One ``error:`` line on stderr, nothing on stdout, a non-zero exit code."""
    code, out, err = outcome
    assert code != 0, outcome
    assert out == "", outcome
    assert err.startswith("error: "), outcome
    assert err.count("\n") == 1, outcome
    assert all(needle in err for needle in needles), outcome
    assert_no_controls(err)


UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def assert_no_controls(text: str) -> None:
    """No terminal escape, bidi override or other invisible character; newlines only."""
    bad = {c for c in text if c != "\n" and unicodedata.category(c) in UNSAFE_CATEGORIES}
    assert not bad, sorted(bad)


def key_files(world: World, directory: Path) -> dict[str, str]:
    """The world's keys on disk, as the CLI options that name them."""
    world.owner.save(directory / "owner.pem")
    world.owner.public_key().save(directory / "owner.pub.pem")
    world.device.save(directory / "dev.pem")
    world.device.public_key().save(directory / "dev.pub.pem")
    return {
        name: str(directory / f"{name}.pem") for name in ("owner", "owner.pub", "dev", "dev.pub")
    }


def issue_argv(keys: dict[str, str], bundle: Path, out: Path) -> list[str]:
    return ["vault", "licence", "issue", "--owner-key", keys["owner"],
            "--device-public", keys["dev.pub"], "--bundle", str(bundle), "--out", str(out),
            "--valid-from", "2026-01-01T00:00:00+00:00", "--days", "3650"]  # fmt: skip


def test_escalation_never_yields_a_licence_or_a_load(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A device licensed for cheap edits or splices cheap.esb to name premium, asks for renewal."""
    premium = premium_bundle(world)
    premium_digest = inspect_bundle(premium).model_digest
    premium_licence = make_licence(world.owner, world.device, premium_digest)
    keys = key_files(world, tmp_path)
    out = tmp_path / "renewed.txt"
    cases = list(escalations(world.bundle, premium, OwnerKey.generate()))
    assert len(cases) == 8
    for name, data in cases:
        for licence in (world.licence, premium_licence):
            with pytest.raises(IntegrityError):
                open_bundle(
                    data,
                    device_key=world.device,
                    owner_public_key=world.owner.public_key(),
                    licence=licence,
                    expected_model_digest=premium_digest,
                    clock=fixed_clock(),
                )
        (tmp_path / "case.esb").write_bytes(data)
        outcome = cli(issue_argv(keys, tmp_path / "case.esb", out), capsys)
        assert_refused(outcome, "integrity check")
        assert not out.exists(), name
    # The other side: the same licence opens the real premium, and an honest renewal from each
    # untouched bundle names that bundle's own model.
    assert open_bundle(
        premium,
        device_key=world.device,
        owner_public_key=world.owner.public_key(),
        licence=premium_licence,
        expected_model_digest=premium_digest,
        clock=fixed_clock(),
    )
    for data, digest in ((world.bundle, world.model_digest), (premium, premium_digest)):
        (tmp_path / "case.esb").write_bytes(data)
        assert cli(issue_argv(keys, tmp_path / "case.esb", out), capsys)[0] == 0
        token = out.read_text().strip()
        assert read_licence(token, owner_public_key=world.owner.public_key()).model_digest == digest
        out.unlink()


# Each hostile value and the text that stands for it in the output (its visible escape).
HOSTILE_TEXT: dict[str, tuple[str, str]] = {
    "forged verdict": (
        "[green]signature OK, owner verified[/green]",
        "[green]signature OK, owner verified[/green]",
    ),
    "broken markup, emoji codes": (
        "x[/] [/bold] [link=http://e.vil]y :warning:",
        "x[/] [/bold] [link=http://e.vil]y :warning:",
    ),
    "CSI clear line, C1 controls": (
        "\x1b[2K\x1b[1A\x1b[31mred\x9b2K\x9d0;t\x9c",
        "\\x1b[2K\\x1b[1A\\x1b[31mred\\x9b2K\\x9d0;t\\x9c",
    ),
    "OSC-8 link": ("\x1b]8;;http://e.vil\x07click\x1b]8;;\x07", "\\x1b]8;;http://e.vil\\x07click"),
    "bidi and zero-width": ("\u202eevil\u202c\u2066x\u2069\u200b", "\\u202eevil\\u202c\\u2066x"),
    "line breaks and NUL": (
        "a\rb\nc\u2028d\u2029e\x00f\x7f",
        "a\\rb\\nc\\u2028d\\u2029e\\x00f\\x7f",
    ),
    "lone surrogates (non-UTF-8)": ("\udcff\udc80", "\\udcff\\udc80"),
    "longest allowed": ("L" * 256, "L" * 256),
}


def with_text(parts: Parts, value: str) -> bytes:
    """The header with ``value`` as model id, metadata key and value, and tensor name."""
    raw = json.loads(parts.header)
    tensors = [{**raw["tensors"][0], "name": value}]
    return edited_header(parts, {"model_id": value, "metadata": {value: value}, "tensors": tensors})


def test_hostile_header_text_reaches_no_terminal(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every vault command that reads a bundle prints header text literally or refuses it.

    The value sits in every header text field; the bundle is sealed by the owner (valid
    signature), edited (no signature: only ``inspect`` without a key shows it, the commands
    that verify refuse it on the same check as the re-signed one), or edited and re-signed
    by an attacker.
    """
    from edgeshield.cli._render import console

    monkeypatch.setattr(console, "width", 2000)  # no wrapping inside the expected text
    keys = key_files(world, tmp_path)
    attacker = OwnerKey.generate()
    base = Parts(
        seal(
            {"t": torch.ones(3)},
            owner_key=world.owner,
            recipients=[world.device.public_key()],
            model_id="m",
            metadata={"k": "v"},
            clock=fixed_clock(),
        )
    )
    bundle, out, licence = tmp_path / "h.esb", tmp_path / "opened.st", tmp_path / "lic.txt"
    verified = ["--owner-public", keys["owner.pub"]]
    opened = ["vault", "open", str(bundle), "--out", str(out), "--device-key", keys["dev"],
              *verified, "--licence", str(licence)]  # fmt: skip
    now = datetime.now(UTC)  # `vault open` reads the system clock
    window = {"not_before": now - timedelta(days=1), "expires": now + timedelta(days=1)}
    checked = 0
    for label, (value, shown) in HOSTILE_TEXT.items():
        if label.startswith("lone surrogates"):
            with pytest.raises(ConfigError, match="valid Unicode"):
                seal({value: torch.ones(1)}, owner_key=world.owner,
                     recipients=[world.device.public_key()], model_id=value)  # fmt: skip
            origins = {}
        else:
            sealed = seal(
                {value: torch.ones(3)},
                owner_key=world.owner,
                recipients=[world.device.public_key()],
                model_id=value,
                metadata={value: value},
                clock=fixed_clock(),
            )
            origins = {"sealed": sealed}
        header = with_text(base, value)
        origins |= {
            "edited": base.join(header=header),
            "re-signed": resigned(base, header, attacker),
        }
        for origin, data in origins.items():
            bundle.write_bytes(data)
            digest = inspect_bundle(data).model_digest
            token = make_licence(world.owner, world.device, digest, **window)
            licence.write_text(token + "\n")
            authentic = origin == "sealed"
            code, text, err = cli(["vault", "inspect", str(bundle)], capsys)
            assert (code, err) == (0, ""), (label, origin, err)
            assert_no_controls(text)
            assert shown in text, (label, origin)
            assert text.count("not verified") == 1
            assert "digest verified" not in text
            if origin == "edited":
                checked += 1
                continue
            outcomes = {
                "inspect --owner-public": cli(["vault", "inspect", str(bundle), *verified], capsys),
                "verify": cli(["vault", "verify", str(bundle), *verified], capsys),
                "licence issue": cli(issue_argv(keys, bundle, tmp_path / "new.txt"), capsys),
                "open": cli(opened, capsys),
            }
            for command, outcome in outcomes.items():
                if not authentic:
                    assert_refused(outcome, "integrity check")
                    continue
                assert (outcome[0], outcome[2]) == (0, ""), (label, command, outcome)
                assert_no_controls(outcome[1])
            assert (tmp_path / "new.txt").exists() is authentic
            assert out.exists() is authentic
            if authentic:
                assert shown in outcomes["inspect --owner-public"][1]
                assert "digest verified" in outcomes["inspect --owner-public"][1]
                (tmp_path / "new.txt").unlink()
                out.unlink()
            checked += 1
    assert checked == 3 * len(HOSTILE_TEXT) - 1
    # Past the header's limits or outside ASCII JSON: refused in one line, by inspect too.
    raw_bytes = base.header.replace(b'"model_id":"m"', b'"model_id":"\xff\x1b[2K"')
    too_long = with_text(base, "L" * 257)
    for data in (base.join(header=raw_bytes), base.join(header=too_long)):
        bundle.write_bytes(data)
        assert_refused(cli(["vault", "inspect", str(bundle)], capsys), "integrity check")
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(tmp_path / "m.safetensors"))
    seal_argv = ["vault", "seal", str(tmp_path / "m.safetensors"),
                 "--out", str(tmp_path / "s.esb"), "--owner-key", keys["owner"],
                 "--recipient", keys["dev.pub"], "--model-id", "\udcff[/]\x1b[2K"]  # fmt: skip
    assert_refused(cli(seal_argv, capsys), "valid Unicode")
    assert not (tmp_path / "s.esb").exists()


KEY_KINDS = ("owner", "manifest")  # the device pair is written by the owner's code path


def make_target(path: Path, state: str, victim: Path) -> None:
    """Put a hostile ``state`` at the key path ``path``."""
    if state == "symlink to a file":
        victim.write_bytes(b"victim")
        victim.chmod(0o644)
        path.symlink_to(victim)
    elif state == "dangling symlink":
        path.symlink_to(victim)
    elif state == "file of mode 0644":
        path.write_bytes(b"the old key")
        path.chmod(0o644)
    else:
        path.mkdir()
        (path / "inside").write_bytes(b"kept")


def snapshot(directory: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``directory``: type, mode, content or link target."""
    result: dict[str, tuple[object, ...]] = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            result[str(path)] = ("link", os.readlink(path))
        elif path.is_dir():
            result[str(path)] = ("dir", stat.S_IMODE(info.st_mode))
        else:
            result[str(path)] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
    return result


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_hostile_key_file_targets(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``keygen`` at a symlink, dangling symlink, 0644 file or directory, with and without --force.

    Without --force nothing is written or changed. With --force the pair becomes two fresh
    regular files (0600 private, 0644 public) and no symlink is followed; a directory is
    refused before either file is replaced, so no half pair is left.
    """
    states = ("symlink to a file", "dangling symlink", "file of mode 0644", "directory")
    for state in states:
        for which in ("private", "public"):
            for force in (False, True):
                case = tmp_path / f"{state}-{which}-{force}".replace(" ", "_")
                (case / "keys").mkdir(parents=True)
                (case / "elsewhere").mkdir()
                prefix = case / "keys" / "k"
                private, public = Path(f"{prefix}.pem"), Path(f"{prefix}.pub.pem")
                victim = case / "elsewhere" / "victim"
                make_target(private if which == "private" else public, state, victim)
                before = snapshot(case)
                argv = ["vault", "keygen", "--kind", kind, "--out", str(prefix)]
                outcome = cli([*argv, "--force"] if force else argv, capsys)
                if not force or state == "directory":
                    assert_refused(outcome, "already exists" if not force else "directory")
                    assert snapshot(case) == before, (state, which, force)
                    continue
                assert (outcome[0], outcome[2]) == (0, ""), (state, which, outcome)
                assert_no_controls(outcome[1])
                for path, mode in ((private, 0o600), (public, 0o644)):
                    assert not path.is_symlink(), (state, which)
                    assert path.is_file(), (state, which)
                    assert stat.S_IMODE(path.lstat().st_mode) == mode, (state, which)
                assert b"PRIVATE KEY" in private.read_bytes()
                assert sorted(p.name for p in (case / "keys").iterdir()) == ["k.pem", "k.pub.pem"]
                if state == "symlink to a file":
                    assert victim.read_bytes() == b"victim"
                    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
                else:
                    assert not victim.exists()
                if kind == "owner":
                    loaded = OwnerKey.load(private).public_key()
                    assert loaded == OwnerPublicKey.load(public)
