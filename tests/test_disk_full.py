"""A full disk (ENOSPC) while writing the feature cache, a run file or a checkpoint: one line naming the path
("no space left on device writing PATH"), nothing half-written left behind, and the rerun resumes.

The disk is filled by monkeypatching: `os.fsync` (every atomic write of mgc_jax ends with one) or orbax's save,
which reports a full disk as ValueError("RESOURCE_EXHAUSTED: ... No space left on device").
"""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from launchers import run_command

from mgc_jax.errors import DiskFullError

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fill_disk_after(monkeypatch, n_ok: int) -> dict:
    """os.fsync succeeds `n_ok` times, then raises ENOSPC (as a full disk does at the latest there) until the
    returned dict's "full" is set to False (space freed)."""
    real, state = os.fsync, {"n": 0, "full": True}

    def fsync(fd):
        state["n"] += 1
        if state["full"] and state["n"] > n_ok:
            raise ENOSPC
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return state


def test_atomic_write_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    from mgc_jax.workdir import atomic_write

    path = tmp_path / "index.json"
    path.write_text("old")
    _fill_disk_after(monkeypatch, 0)
    with pytest.raises(DiskFullError) as e:
        with atomic_write(path, "w") as f:
            f.write("new")
    assert str(e.value) == f"no space left on device writing {path}" and e.value.errno == errno.ENOSPC
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]


def test_metrics_append_names_the_file(tmp_path, monkeypatch):
    import builtins

    from mgc_jax.train import rundir

    real_open = builtins.open

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            raise ENOSPC

    monkeypatch.setattr(builtins, "open", lambda p, mode="r", *a, **k: Full(real_open(p, mode, *a, **k))
                        if str(p).endswith(rundir.METRICS) else real_open(p, mode, *a, **k))
    with pytest.raises(DiskFullError, match=f"^no space left on device writing {tmp_path / rundir.METRICS}$"):
        rundir.append_metrics(tmp_path, {"epoch": 1})


def test_cache_write_names_the_file_and_the_rerun_keeps_what_was_done(tmp_path, monkeypatch):
    import soundfile as sf

    import dsp
    from mgc_jax.data import extraction
    from mgc_jax.data.track import Track

    def fake_batch(x, cfg):
        t = dsp.n_frames(x.shape[1], cfg)
        return (np.ones((len(x), t, 8), np.float32), np.zeros((len(x), 8), np.int32),
                np.ones((len(x), t, cfg.n_bins), np.float32))

    monkeypatch.setattr(extraction, "_extract_batch", fake_batch)
    tracks = []
    for i in range(3):
        path = tmp_path / "audio" / f"blues.{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * np.random.default_rng(i).standard_normal(4 * 22050 + 512 * i), 22050)
        tracks.append(Track(path.stem, "blues", str(path)))  # 3 lengths: 3 batches of one track
    cfg, cache_dir = dsp.FeatureConfig(), tmp_path / "f"
    disk = _fill_disk_after(monkeypatch, 3)  # track 0: 2 arrays + the index; then track 1's first array fails
    with pytest.raises(DiskFullError, match=rf"^no space left on device writing {cache_dir}/blues\.00001\.music\.npy$"):
        extraction.extract(tracks, cache_dir, cfg, progress=False, batch_size=1)
    assert not list(cache_dir.glob(".*.tmp"))
    disk["full"] = False
    report = extraction.extract(tracks, cache_dir, cfg, progress=False, batch_size=1)
    assert report.skipped == ["blues.00000"] and sorted(report.done) == ["blues.00001", "blues.00002"]


def test_launch_train_reports_a_full_disk_during_a_checkpoint_save_and_the_rerun_resumes(tmp_path, monkeypatch,
                                                                                         capsys):
    """orbax's ValueError(RESOURCE_EXHAUSTED ... No space left on device) becomes one line naming the step
    directory; the rerun resumes from the last saved epoch and ends as an uninterrupted run does."""
    from fake_data import fake_corpus

    import mgc_jax.data.corpus
    from mgc_jax.train import rundir
    from mgc_jax.train.checkpoint import ocp

    corpus = fake_corpus(tmp_path)
    monkeypatch.setattr(mgc_jax.data.corpus, "prepare_corpus", lambda *a, **k: corpus)
    args = ("--net=music", "--fold=0", "--k1=8", "--batch_size=20", "--epochs=3")
    real_save, disk = ocp.training.Checkpointer.save, {"full": True}

    def save(self, step, *args, **kwargs):
        if step == 2 and disk["full"]:  # what orbax 0.12 raised on a full disk (issue 15)
            raise ValueError("RESOURCE_EXHAUSTED: Error writing local file \"/w/2.orbax-checkpoint-tmp/state/d/x\": "
                             "No space left on device [tensorstore_spec='{...}']")
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.training.Checkpointer, "save", save)
    code, _, err = run_command("train", capsys, *args, f"--workdir={tmp_path / 'w'}")
    run_dir = tmp_path / "w" / "runs" / "fakecorpus" / "stratified" / "music" / "fold0"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and errors == [f"error: no space left on device writing {run_dir.absolute()}/checkpoints/2"], err
    assert "Traceback" not in err and not rundir.is_finished(run_dir)
    disk["full"] = False
    code, _, err = run_command("train", capsys, *args, f"--workdir={tmp_path / 'w'}")
    assert code == 0, err
    code, _, err = run_command("train", capsys, *args, f"--workdir={tmp_path / 'clean'}")
    assert code == 0, err
    clean = tmp_path / "clean" / "runs" / "fakecorpus" / "stratified" / "music" / "fold0"
    assert [r["epoch"] for r in rundir.read_metrics(run_dir)] == [1, 2, 3]
    np.testing.assert_array_equal(np.load(run_dir / rundir.TEST_PROBS)["probs"],
                                  np.load(clean / rundir.TEST_PROBS)["probs"])
