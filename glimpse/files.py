"""Atomic file writes: a half-written file never replaces a good one.

A write goes to a temporary file beside its destination, named ``.NAME.XXXXXXXX.SUFFIX.tmp``
(``NAME`` and ``SUFFIX`` the destination's stem and suffix, ``XXXXXXXX`` random), which is renamed
over the destination only when the write succeeded. A process killed mid-write (SIGKILL) leaves
that temporary behind; :func:`remove_stale_temporaries` clears them.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# mkstemp's random part: 8 characters of [a-z0-9_]
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}(\.[^.]+)?\.tmp")


def _temporary_beside(path: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix + ".tmp")
    os.close(fd)
    return Path(name)


def _publish(tmp: Path, path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed over ``path`` (with the
    usual permissions), on any error it is removed and ``path`` is left as it was."""
    with atomic_paths([path]) as (tmp,):
        yield tmp


@contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[Path]]:
    """Several outputs written together or not at all: yield one temporary path beside each of
    ``paths``; when the block succeeds all are renamed into place, on any error all are removed
    and every destination is left as it was. (Renames are atomic one by one, not as a group: if a
    rename itself fails, the destinations already renamed are removed, so a file they replaced is
    gone, not restored; callers refuse to overwrite without ``--force``.)"""
    dests = [Path(p) for p in paths]
    temps: list[Path] = []
    try:
        for path in dests:
            path.parent.mkdir(parents=True, exist_ok=True)
            temps.append(_temporary_beside(path))
        yield temps
        done: list[Path] = []
        try:
            for tmp, path in zip(temps, dests, strict=True):
                _publish(tmp, path)
                done.append(path)
        except BaseException:
            for path in done:
                path.unlink(missing_ok=True)
            raise
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise


def is_stale_temporary(path: str | os.PathLike[str]) -> bool:
    """Whether a file name has :func:`atomic_path`'s temporary pattern, ``.NAME.XXXXXXXX.SUFFIX.tmp``."""
    return _TEMPORARY.fullmatch(Path(path).name) is not None


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries that interrupted :func:`atomic_path` writes left in ``folder`` (not
    its subfolders) and return them. Only files with atomic_path's naming pattern are touched.
    Call it when no other process is writing into ``folder`` (e.g. at the start of a run)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.is_symlink() and is_stale_temporary(p):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
