"""mgc_jax.workdir: the working directory's layout and its atomic file writers."""
from __future__ import annotations

import errno
import os
import pathlib
import stat

import pytest
from full_disk import fill_disk_after

import dsp
import mgc_jax.config
from mgc_jax.errors import DataError, DiskFullError
from mgc_jax.workdir import Workdir, atomic_write, write_json

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
    assert wd.features_dir("gtzan", CFG) == tmp_path / "features" / f"gtzan-{CFG.hash()}-{mgc_jax.config.dsp_code_hash()}"
    assert wd.split_file("gtzan", "artist") == tmp_path / "splits" / "gtzan-artist.json"
    assert wd.run_dir("gtzan", "stratified", "music", 3) == tmp_path / "runs/gtzan/stratified/music/fold3"
    assert wd.results_dir("gtzan", "filtered") == tmp_path / "results/gtzan/filtered"
    assert Workdir().root == pathlib.Path("workspace")
    with pytest.raises(DataError, match="cannot name a folder"):
        wd.features_dir("../elsewhere", CFG)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_write_follows_the_umask_as_open_does(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_write(tmp_path / "a.bin") as f:
            f.write(b"x")
        write_json(tmp_path / "b.json", {"k": 1})
        with open(tmp_path / "c.txt", "w") as f:  # what a plain open() gives under this umask
            f.write("x")
    finally:
        os.umask(old)
    modes = {p: stat.S_IMODE(os.stat(tmp_path / p).st_mode) for p in ("a.bin", "b.json", "c.txt")}
    assert modes["a.bin"] == modes["b.json"] == modes["c.txt"] == 0o666 & ~umask


def test_caches_of_other_dsp_code_are_kept_apart(tmp_path, monkeypatch):
    wd = Workdir(tmp_path)
    old = wd.features_dir("gtzan", CFG)
    legacy = tmp_path / "features" / f"gtzan-{CFG.hash()}"  # named before the code hash was part of the name
    for d in (old, legacy, tmp_path / "features" / "gtzan-other"):
        d.mkdir(parents=True)
    monkeypatch.setattr(mgc_jax.config, "dsp_code_hash", lambda: "edited-dsp")
    new = wd.features_dir("gtzan", CFG)
    assert new != old and new.name.endswith("-edited-dsp")
    assert wd.other_feature_dirs("gtzan", CFG) == sorted([old, legacy])
