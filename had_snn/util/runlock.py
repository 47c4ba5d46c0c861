"""Own an output folder for the length of a run: one lock file per folder, orphaned temporary files cleaned.

``with run_folder_lock(out):`` takes an exclusive ``flock`` on ``OUT/.had-snn.lock`` (released by the kernel when the
process dies, so a killed run never leaves a stale lock). A second process asking for the same folder gets
:class:`~had_snn.util.errors.RunFolderBusy` naming the holder's pid and command. While the lock is held, temporary
files left by an interrupted :func:`~had_snn.util.atomic.atomic_path` writer (``.NAME.XXXXXXXX.tmp.SUFFIX``) are
removed. With ``kind`` (``"train"``, ``"eval"``, ``"benchmark"``, ...) the folder is also claimed for that kind of
output: ``OUT/.had-snn-kind`` names it (written when the run finishes), and a folder that holds another kind (by
that file, or for folders written before it, by the files that kind writes: :data:`KIND_FILES`) is refused with
:class:`~had_snn.util.errors.UserError`, so ``train --out`` a benchmark root or ``demo --out`` a train run stops
before writing. :func:`file_lock` locks one output file (``windows --out X.npz``) without claiming its folder.
Standard library only.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from had_snn.util.errors import RunFolderBusy, UserError

LOCK_NAME = ".had-snn.lock"
KIND_NAME = ".had-snn-kind"
#: What each kind of run leaves at its top level, for folders written before ``.had-snn-kind`` existed (first match
#: wins: a demo folder also holds a report.json).
KIND_FILES = (("demo", "demo_config.yaml"), ("benchmark", "index.json"), ("train", "last.pt"), ("train", "best.pt"),
              ("eval", "results.json"), ("convert", "quantization.json"), ("deploy", "counts.json"),
              ("track", "track.json"), ("energy", "report.json"))
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


def folder_kind(folder: str | os.PathLike) -> tuple[str, str] | None:
    """``(kind, evidence)`` of what an existing folder holds, or None for an empty or unknown folder."""
    folder = Path(folder)
    marker = folder / KIND_NAME
    try:
        text = marker.read_text().strip()
    except OSError:
        text = ""
    if text:
        return text, f"its {KIND_NAME} file says {text}"
    for kind, name in KIND_FILES:
        if (folder / name).exists():
            return kind, f"it has {name}"
    return None


def check_folder_kind(folder: str | os.PathLike, kind: str, option: str = "--out") -> None:
    """UserError when ``folder`` exists and holds a kind of output other than ``kind``."""
    found = folder_kind(folder) if Path(folder).is_dir() else None
    if found is not None and found[0] != kind:
        article = "an" if found[0][0] in "aeiou" else "a"
        raise UserError(f"{option} {folder}: holds {article} {found[0]} output ({found[1]}), not a {kind} run; "
                        "choose another folder")


@contextmanager
def run_folder_lock(folder: str | os.PathLike, clean: bool = True, kind: str | None = None,
                    option: str = "--out") -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (creating the folder); yields the folder.

    Raises :class:`RunFolderBusy` at once if another process holds it. With ``kind`` the folder must be empty, new or
    already of that kind (UserError naming ``option`` otherwise, before anything is created) and is marked so. With
    ``clean`` the folder's orphaned temporary files are removed after the lock is taken. The lock file is removed on
    exit; a folder this call created is removed again when the block fails before writing anything into it.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunFolderBusy(f"{folder}: is a file, expected an output folder")
    if kind is not None:
        check_folder_kind(folder, kind, option)
    created = not folder.exists()
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
        if kind is not None and not (folder / KIND_NAME).is_file():  # a finished run says what it is
            (folder / KIND_NAME).write_text(kind + "\n")
    except BaseException:
        if created:  # a run that failed before writing anything leaves no folder behind
            if {p.name for p in folder.iterdir()} <= {LOCK_NAME}:
                lock_path.unlink(missing_ok=True)
                os.close(fd)
                fd = -1
                folder.rmdir()
        raise
    finally:
        if fd >= 0:
            lock_path.unlink(missing_ok=True)
            os.close(fd)


@contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on one output file's name (``.NAME.lock`` beside it) for the block; RunFolderBusy at
    once while another process writes the same file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunFolderBusy(f"{path}: being written by another had-snn run ({_holder(lock_path)}); wait for it to "
                            "finish or choose another output file") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)}\n".encode())
        yield path
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)
