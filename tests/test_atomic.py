"""Atomic writes: the target appears only complete, failures leave the old version and no temporary files."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from had_snn.util.atomic import atomic_path, write_json_atomic, write_text_atomic


def test_write_text_and_json(tmp_path) -> None:
    p = write_text_atomic(tmp_path / "sub" / "a.txt", "hello")
    assert p.read_text() == "hello"
    write_json_atomic(tmp_path / "b.json", {"x": [1, 2]})
    assert json.loads((tmp_path / "b.json").read_text()) == {"x": [1, 2]}
    assert sorted(f.name for f in tmp_path.iterdir()) == ["b.json", "sub"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask  # not mkstemp's private 0600


def test_failure_keeps_old_version_and_cleans_up(tmp_path) -> None:
    target = tmp_path / "data.npz"
    np.savez(target, a=np.arange(3))
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == tmp_path
        np.savez(tmp, a=np.zeros(5))
        raise RuntimeError("writer died half way")
    with np.load(target) as f:
        assert f["a"].tolist() == [0, 1, 2]
    assert [f.name for f in tmp_path.iterdir()] == ["data.npz"]
