"""Own an output folder for the length of a run: one lock file per folder, orphaned temporary files cleaned.

``with run_folder_lock(out):`` takes an exclusive ``flock`` on ``OUT/.had-snn.lock`` (released by the kernel when the
process dies, so a killed run never leaves a stale lock). A second process asking for the same folder gets
:class:`~had_snn.util.errors.RunFolderBusy` naming the holder's pid and command. While the lock is held, temporary
files left by an interrupted :func:`~had_snn.util.atomic.atomic_path` writer (``.NAME.XXXXXXXX.tmp.SUFFIX``) are
removed. Standard library only.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from had_snn.util.errors import RunFolderBusy

LOCK_NAME = ".had-snn.lock"
# atomic_path's temporaries: "." + stem + "." + 8 random mkstemp characters + ".tmp" + the target's suffix.
_ORPHAN = re.compile(r"^\..*\.[A-Za-z0-9_]{8}\.tmp(\.[^./]+)?$")


def clean_orphan_temps(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Remove temporary files of interrupted atomic writes under ``folder``; returns what was removed.

    Only call this while holding the folder's lock: a live writer's temporary looks the same as an orphan.
    """
    folder = Path(folder)
    files = folder.rglob(".*") if recursive else folder.glob(".*")
    removed = []
    for path in files:
        if path.is_file() and _ORPHAN.match(path.name):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text().strip()
    except OSError:
        text = ""
    return text or "unknown process"


@contextmanager
def run_folder_lock(folder: str | os.PathLike, clean: bool = True) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (creating the folder); yields the folder.

    Raises :class:`RunFolderBusy` at once if another process holds it. With ``clean`` the folder's orphaned
    temporary files are removed after the lock is taken. The lock file is removed on exit.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunFolderBusy(f"{folder}: is a file, expected an output folder")
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / LOCK_NAME
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFolderBusy(f"{folder}: in use by another had-snn run ({_holder(lock_path)}); wait for it to "
                                f"finish or choose another output folder") from None
        try:  # the holder before us may have removed the file after we opened it: lock the file that is there now
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)}\n".encode())
        if clean:
            clean_orphan_temps(folder)
        yield folder
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)
