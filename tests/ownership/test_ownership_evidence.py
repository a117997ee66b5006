"""Commitments (local log and the ledger's ModelRegistry) and the evidence report."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from edgeshield.errors import ConfigError, OwnershipError, StorageError
from edgeshield.ownership import (
    CommitmentOpening,
    LedgerCommitmentStore,
    LocalCommitmentLog,
    NullDistribution,
    OwnershipEvidence,
    WatermarkKey,
    commitment,
    owner_salt,
    verify_ownership,
    write_evidence,
)
from edgeshield.usecase import FailureClassifier

FPR = 0.15
"""What the 6 null models of the fixtures support (see conftest)."""

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def test_commitment_binds_key_model_and_owner(key: WatermarkKey, marked: FailureClassifier) -> None:
    digest = bytes.fromhex(marked.model_digest)
    value = commitment(key, digest, "acme")
    assert value == keccak(key.digest() + digest + owner_salt("acme"))
    assert value != commitment(key, digest, "other")
    assert value != commitment(WatermarkKey.from_bytes(b"\x05" * 32), digest, "acme")
    assert value == CommitmentOpening.of(key, digest, "acme").commitment()
    with pytest.raises(ConfigError):
        commitment(key, b"short", "acme")
    with pytest.raises(ConfigError):
        owner_salt("")


def test_model_digest_changes_with_any_weight(marked: FailureClassifier) -> None:
    import copy

    other = copy.deepcopy(marked)
    first = next(iter(other.model.parameters()))
    first.data[0, 0] += 1e-3
    assert other.model_digest != marked.model_digest
    assert copy.deepcopy(marked).model_digest == marked.model_digest


def test_local_log_commit_lookup_reveal(
    key: WatermarkKey, marked: FailureClassifier, tmp_path: Path
) -> None:
    log = LocalCommitmentLog(tmp_path / "log.jsonl", clock=Clock())
    opening = CommitmentOpening.of(key, bytes.fromhex(marked.model_digest), "acme")
    receipt = log.commit(opening.commitment())
    assert receipt.committed_at == T0 + timedelta(minutes=1)
    assert log.lookup(opening.commitment()).revealed_at is None
    revealed = log.reveal(opening)
    assert revealed.committed_at == receipt.committed_at
    assert revealed.revealed_at == T0 + timedelta(minutes=2)
    wrong = CommitmentOpening.of(key, bytes.fromhex(marked.model_digest), "mallory")
    with pytest.raises(OwnershipError, match="no such commitment"):
        log.reveal(wrong)
    with pytest.raises(ConfigError):
        log.commit(b"123")


@pytest.mark.parametrize("text", ["not json\n", "[1, 2]\n", '{"a": 1}\n', "\udcff"])
def test_a_commit_never_appends_to_a_file_that_is_not_a_commitment_log(
    tmp_path: Path, text: str
) -> None:
    """``ownership commit --log`` on a mistyped path appended a JSON line to any file."""
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    before = path.read_bytes()
    with pytest.raises(StorageError, match="cannot read commitment log"):
        LocalCommitmentLog(path, clock=Clock()).commit(bytes(32))
    assert path.read_bytes() == before


def test_a_commit_after_a_last_line_without_newline_starts_a_new_line(tmp_path: Path) -> None:
    """An editor's save without the final newline glued the next entry onto that line, and
    every later read of the log failed."""
    path = tmp_path / "log.jsonl"
    log = LocalCommitmentLog(path, clock=Clock())
    log.commit(bytes(32))
    path.write_text(path.read_text().rstrip("\n"))
    log.commit(bytes([1]) * 32)
    assert [len(line) > 0 for line in path.read_text().split("\n")] == [True, True, False]
    assert log.lookup(bytes([1]) * 32).committed_at == T0 + timedelta(minutes=2)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_log_that_is_not_a_regular_file_is_refused(tmp_path: Path, special: str) -> None:
    """/dev/zero grew until the kernel's OOM killer ended the process; a FIFO hung it."""
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    with pytest.raises(StorageError, match="not a regular file"):
        LocalCommitmentLog(path, clock=Clock()).commit(bytes(32))


def test_evidence_report_files(
    key: WatermarkKey,
    marked: FailureClassifier,
    null: NullDistribution,
    tmp_path: Path,
) -> None:
    log = LocalCommitmentLog(tmp_path / "log.jsonl", clock=Clock())
    receipt = log.commit(commitment(key, bytes.fromhex(marked.model_digest), "acme"))
    result = verify_ownership(marked, key, null=null, fpr=FPR)
    evidence = OwnershipEvidence(
        owner_id="acme",
        key_id=key.key_id,
        suspect="device-17",
        suspect_model_digest=marked.model_digest,
        result=result,
        null_names=null.names,
        receipt=receipt,
        commitment_matches=True,
        created_at=T0,
    )
    paths = write_evidence(evidence, tmp_path / "report")
    markdown = paths.markdown.read_text()
    assert "OWNED" in markdown
    assert f"{result.p_floor:.3g}" in markdown
    assert "below the 1/N-based bound of 6 null models" in markdown
    assert receipt.commitment.hex() in markdown
    assert receipt.committed_at.isoformat() in markdown
    assert paths.plot.read_bytes().startswith(b"\x89PNG")
    page = paths.html.read_text()
    assert "data:image/png;base64," in page
    assert "OWNED" in page
    assert '"owned": true' in paths.json.read_text()
    assert "| Chain |" not in markdown  # no note unless the caller gives one

    noted = dataclasses.replace(evidence, chain_note="embedded py-evm chain: throw-away")
    paths = write_evidence(noted, tmp_path / "noted")
    assert "| Chain | embedded py-evm chain: throw-away |" in paths.markdown.read_text()
    assert "<th>Chain</th><td>embedded py-evm chain: throw-away</td>" in paths.html.read_text()
    assert '"chain_note": "embedded py-evm chain: throw-away"' in paths.json.read_text()


@pytest.mark.slow
def test_ledger_backed_commitment_store(
    key: WatermarkKey, marked: FailureClassifier, tmp_path: Path
) -> None:
    ledger = pytest.importorskip("edgeshield.ledger")
    chain = ledger.Chain.embedded()
    compiler = ledger.CompilerConfig(cache_dir=tmp_path / "solc")
    registry = ledger.ModelRegistryClient.create(chain, compiler=compiler)
    digest = bytes.fromhex(marked.model_digest)
    registry.register(digest, "ipfs://card")
    store = LedgerCommitmentStore(registry)
    opening = CommitmentOpening.of(key, digest, "acme")
    assert ledger.ModelRegistryClient.commitment_of(
        key.digest(), digest, owner_salt("acme")
    ) == commitment(key, digest, "acme")
    receipt = store.commit(opening.commitment())
    assert receipt.commitment == registry.bound_commitment(opening.commitment())
    assert receipt.store.startswith("ledger:ModelRegistry@")
    with pytest.raises(OwnershipError, match="does not match"):
        store.reveal(CommitmentOpening.of(key, digest, "mallory"))
    revealed = store.reveal(opening)
    assert revealed.revealed_at is not None
    assert revealed.revealed_at >= receipt.committed_at
    assert registry.watermark_key_digest == key.digest()
