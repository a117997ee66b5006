"""Fixtures of the guard tests: one sealed model per session, services under tmp_path, and a
throwaway PostgreSQL server."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from guard_kit import Kit, build_kit, free_port


@pytest.fixture(scope="session")
def kit() -> Kit:
    """A trained classifier sealed for one device, and the plant data it came from."""
    return build_kit()


def _postgres_bindir() -> Path | None:
    found = shutil.which("initdb")
    candidates = [Path(found)] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    for initdb in candidates:
        bindir = initdb.resolve().parent
        if (bindir / "pg_ctl").is_file():
            return bindir
    return None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server (Debian's package) on a free loopback port.

    ``initdb`` and ``pg_ctl`` run as the ``postgres`` user when the tests run as root (the
    server refuses root); the cluster lives in a fresh temporary directory, removed after.
    Skipped, saying so, only where the server binaries are not installed
    (``apt-get install postgresql``; ``.ci/run`` installs it).
    """
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found: apt-get install postgresql")
    prefix: list[str] = []
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no postgres user to run the server as")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and no runuser to drop to the postgres user")
        prefix, owner = [runuser, "-u", "postgres", "--"], (entry.pw_uid, entry.pw_gid)
    base = Path(tempfile.mkdtemp(prefix="edgeshield-pg-"))
    if owner is not None:
        os.chown(base, *owner)
    data, port = base / "data", free_port()
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
         "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*pg_ctl, "-l", str(base / "server.log"), "-w", "-t", "180", "-o", options, "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
