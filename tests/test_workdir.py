"""mgc_jax.workdir: the working directory's layout and its atomic file writers."""
from __future__ import annotations

import errno
import pathlib

import pytest
from full_disk import fill_disk_after

import dsp
from mgc_jax.errors import DataError, DiskFullError
from mgc_jax.workdir import Workdir, atomic_write

CFG = dsp.FeatureConfig()


def test_atomic_write_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "index.json"
    path.write_text("old")
    fill_disk_after(monkeypatch, 0)
    with pytest.raises(DiskFullError) as e:
        with atomic_write(path, "w") as f:
            f.write("new")
    assert str(e.value) == f"no space left on device writing {path}" and e.value.errno == errno.ENOSPC
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]


def test_workdir_layout(tmp_path):
    wd = Workdir(tmp_path)
    assert wd.corpus_dir("synthetic") == tmp_path / "corpora" / "synthetic"
    assert wd.features_dir("gtzan", CFG) == tmp_path / "features" / f"gtzan-{CFG.hash()}"
    assert wd.split_file("gtzan", "artist") == tmp_path / "splits" / "gtzan-artist.json"
    assert wd.run_dir("gtzan", "stratified", "music", 3) == tmp_path / "runs/gtzan/stratified/music/fold3"
    assert wd.results_dir("gtzan", "filtered") == tmp_path / "results/gtzan/filtered"
    assert Workdir().root == pathlib.Path("workspace")
    with pytest.raises(DataError, match="cannot name a folder"):
        wd.features_dir("../elsewhere", CFG)
