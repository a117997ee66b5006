"""One rule for the CLI's file outputs: never replace silently, never leave half a file.

Every command that writes a file or a model directory checks first, before any long work,
that it may write there (``--force`` to replace), then writes under a temporary name in the
same directory and renames it into place only when the output is complete.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeshield.errors import ConfigError

__all__ = ["check_writable", "check_writable_all", "replace_file", "staged_directory"]


def _refuse_special(path: Path, what: str) -> None:
    """A device, FIFO or socket is never replaced: ``--force`` on /dev/null made it a file."""
    if path.exists():
        mode = path.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ConfigError(f"{what} {path} is not a regular file; it is never replaced")


def check_writable(path: Path, *, force: bool, what: str = "output") -> None:
    """Refuse an existing ``path`` without ``force``, and a parent that cannot be created.

    Raises
    ------
    ConfigError
        ``path`` exists and ``force`` is false, or its parent is not a writable directory.
    """
    _refuse_special(path, what)
    if path.exists() and not force:
        raise ConfigError(f"{what} {path} exists; pass --force to replace it")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {parent} for the {what}: {exc.strerror or exc}") from exc
    probe: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=parent, prefix=".edgeshield-probe-", delete=False
        ) as f:
            probe = Path(f.name)
    except OSError as exc:
        raise ConfigError(f"cannot write into {parent}: {exc.strerror or exc}") from exc
    finally:
        if probe is not None:
            probe.unlink(missing_ok=True)


def check_writable_all(paths: list[Path], *, force: bool, what: str) -> None:
    """:func:`check_writable` for files written together: one existing file refuses them all."""
    existing = [str(p) for p in paths if p.exists()]
    for path in paths:
        _refuse_special(path, what)
    if existing and not force:
        raise ConfigError(f"{what} {', '.join(existing)} exists; pass --force to replace it")
    for path in paths:
        check_writable(path, force=True, what=what)


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name beside ``path``, then rename it into place."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    staged = Path(name)
    try:
        with open(fd, "wb") as f:
            f.write(data)
        staged.replace(path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


@contextmanager
def staged_directory(path: Path, *, force: bool) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``path`` when the block succeeds.

    On any exception (an interrupt included) the temporary directory is removed and ``path``
    is left as it was. With ``force`` an existing ``path`` is replaced only at the very end.
    """
    check_writable(path, force=force)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
        old.rmdir()
        path.rename(old)
        staging.rename(path)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        staging.rename(path)
