"""The run-folder lock: a second holder is refused (also from another process), orphaned temporaries are cleaned."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from had_snn.util.atomic import atomic_path
from had_snn.util.errors import RunFolderBusy
from had_snn.util.runlock import LOCK_NAME, clean_orphan_temps, run_folder_lock


def _try_lock(folder: str, queue) -> None:
    try:
        with run_folder_lock(folder):
            queue.put("locked")
    except RunFolderBusy as exc:
        queue.put(str(exc))


def test_second_process_is_refused_and_lock_is_released(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with run_folder_lock(tmp_path / "run") as folder:
        assert (folder / LOCK_NAME).read_text().startswith("pid ")
        queue = ctx.Queue()
        proc = ctx.Process(target=_try_lock, args=(str(folder), queue))
        proc.start()
        proc.join(60)
        message = queue.get(timeout=5)
        assert "in use by another had-snn run" in message and str(folder) in message
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    with run_folder_lock(tmp_path / "run"):  # free again
        pass


def test_same_process_second_lock_is_refused(tmp_path: Path) -> None:
    with run_folder_lock(tmp_path):
        with pytest.raises(RunFolderBusy, match="in use"):
            with run_folder_lock(tmp_path):
                pass


def test_orphaned_temporaries_are_removed_and_others_kept(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(KeyboardInterrupt):  # an interrupted writer leaves nothing behind in-process...
        with atomic_path(tmp_path / "last.pt") as tmp:
            tmp.write_bytes(b"x")
            raise KeyboardInterrupt
    orphan = tmp_path / "sub" / ".metrics.ab12cd_9.tmp.json"  # ...but a killed one does
    orphan.write_text("{}")
    keep = [tmp_path / ".gitignore", tmp_path / "metrics.json", tmp_path / ".hidden.tmp"]
    for path in keep:
        path.write_text("x")
    assert clean_orphan_temps(tmp_path) == [orphan]
    assert all(p.exists() for p in keep)


def test_a_file_is_not_an_output_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunFolderBusy, match="is a file"):
        with run_folder_lock(tmp_path / "f"):
            pass
