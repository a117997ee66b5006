"""Passphrase guessing cost against a stolen key file: the old PBKDF2 PEM and the scrypt PEM.

Run: ``.venv/bin/python benchmarks/vault_kdf.py [--seconds 5]``

A thief who copied a passphrase-protected key file tries passphrases offline. Each guess is
one ``load_pem_private_key`` with a wrong passphrase, exactly what the thief's loop costs on
this machine (one thread). Measured for the PEM pyca's ``BestAvailableEncryption`` writes
(PBKDF2-HMAC-SHA256, 2,048 iterations: what ``vault keygen --passphrase-env`` wrote before
issue 16) and for the PEM the vault writes now (PBES2 with scrypt N = 2^17, r = 8, p = 1,
AES-256-CBC). The ratio is from the same run. A GPU or ASIC cluster does better on PBKDF2;
scrypt's 128 MiB per guess is what limits it there.

Prints a table and writes ``benchmarks/results/vault_kdf.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from edgeshield.vault import OwnerKey
from edgeshield.vault._pkcs8 import KEY_FILE_KDF

RESULTS = Path(__file__).resolve().parent / "results"


def _guesses_per_second(pem: bytes, seconds: float) -> dict[str, float]:
    """Try wrong passphrases for about ``seconds``; return the rate and the count."""
    tries = 0
    start = time.perf_counter()
    cpu = time.process_time()
    while True:
        try:
            serialization.load_pem_private_key(pem, password=f"guess {tries}".encode())
        except ValueError:
            pass
        else:  # pragma: no cover - a wrong guess cannot succeed
            raise AssertionError("a wrong passphrase opened the key")
        tries += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and tries >= 3:
            break
    return {
        "guesses": tries,
        "wall_s": elapsed,
        "cpu_s": time.process_time() - cpu,
        "guesses_per_s": tries / elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    legacy = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"the real passphrase"),
    )
    current = OwnerKey.generate().to_pem(passphrase="the real passphrase")
    rows = {
        "pbkdf2_2048": _guesses_per_second(legacy, args.seconds),
        "scrypt": _guesses_per_second(current, args.seconds),
    }
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "scrypt": {"n": KEY_FILE_KDF.n, "r": KEY_FILE_KDF.r, "p": KEY_FILE_KDF.p},
        "rows": rows,
        "slowdown": rows["pbkdf2_2048"]["guesses_per_s"] / rows["scrypt"]["guesses_per_s"],
    }
    print(f"{'key file KDF':<34} {'guesses':>8} {'wall s':>8} {'guesses/s':>10}")
    for name, row in rows.items():
        print(f"{name:<34} {row['guesses']:>8} {row['wall_s']:>8.2f} {row['guesses_per_s']:>10.1f}")
    print(f"scrypt costs the guesser {result['slowdown']:.0f}x more per guess")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vault_kdf.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
