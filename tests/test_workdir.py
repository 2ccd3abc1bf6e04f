"""mgc_jax.workdir: the working directory's layout and its atomic file writers."""
from __future__ import annotations

import errno

import pytest
from full_disk import fill_disk_after

from mgc_jax.errors import DiskFullError
from mgc_jax.workdir import atomic_write


def test_atomic_write_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "index.json"
    path.write_text("old")
    fill_disk_after(monkeypatch, 0)
    with pytest.raises(DiskFullError) as e:
        with atomic_write(path, "w") as f:
            f.write("new")
    assert str(e.value) == f"no space left on device writing {path}" and e.value.errno == errno.ENOSPC
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]
