"""mgc_jax.train.rundir: the files of a run directory (config, metrics, test probabilities, result) and what they say;
its training lock: one trainer per run directory, stale locks taken over, another host's refused, released on every
exit, and what train_and_evaluate and launch.train do with it."""
from __future__ import annotations

import json

import numpy as np
import pytest
from fake_runs import fake_clip_probs, fold_tracks, write_run
from full_disk import ENOSPC

from mgc_jax.errors import DataError, DiskFullError
from mgc_jax.train import rundir


def test_old_runs_without_classes_read_as_gtzan(tmp_path):
    from fake_runs import write_run

    from mgc_jax.data.gtzan import GENRES

    d = tmp_path / "run"
    write_run(d, ["blues.00000"], np.array([0]), [np.full((2, 10), 0.1, np.float32)], GENRES)
    (d / rundir.TEST_PROBS).unlink()
    assert rundir.run_classes(d) == GENRES  # neither config classes nor test probabilities: GTZAN's
    assert rundir.run_corpus_kind({"corpus": "synthetic"}) == "synthetic"
    assert rundir.run_corpus_kind({"corpus": "gtzan"}) == "gtzan"


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


def _finished_run(tmp_path):
    ids, y = fold_tracks(0)
    path = write_run(tmp_path / "run", ids, y, fake_clip_probs(y, seed=0))
    return path


def _flip(path, n=64):
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + n] = bytes(b ^ 0xFF for b in data[mid:mid + n])
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [_flip, _truncate])
def test_damaged_test_probs_is_one_line_naming_the_file_and_the_remedy(tmp_path, damage):
    path = _finished_run(tmp_path)
    damage(path)
    with pytest.raises(DataError) as e:
        rundir.read_test_probs(path.parent)
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"{path}: damaged test probabilities (")
    assert "re-classifies its test tracks" in text and text.count(str(path)) == 1
    with pytest.raises(DataError, match="damaged test probabilities"):  # the other reader of the file
        rundir.read_genres(path.parent)


@pytest.mark.parametrize("garbage", [b"\x00\xffgarbage", b"[1, 2]", b'{"best_epoch": "x"}', b"{"])
def test_garbage_result_json_is_named_once(tmp_path, garbage):
    (tmp_path / rundir.RESULT).write_bytes(garbage)
    with pytest.raises(DataError) as e:
        rundir.read_result(tmp_path)
    text = str(e.value)
    assert text.startswith(f"{tmp_path / rundir.RESULT}: damaged run result (") and text.count(rundir.RESULT) == 2
    assert "launch.train again" in text and "\n" not in text  # the file's name: in its path and in the remedy


def test_garbage_config_json_is_named_once(tmp_path):
    (tmp_path / rundir.CONFIG).write_text("not json {")
    with pytest.raises(DataError) as e:
        rundir.read_config(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / rundir.CONFIG}: damaged run config (not valid JSON")
    assert str(e.value).count(str(tmp_path)) == 1


def test_result_round_trip(tmp_path):
    rundir.write_result(tmp_path, {"best_epoch": 3, "epochs": 4, "test_track_acc": 0.5})
    assert rundir.read_result(tmp_path)["best_epoch"] == 3
    assert json.loads((tmp_path / rundir.RESULT).read_text())["epochs"] == 4
    np.testing.assert_equal(rundir.read_test_probs(_finished_run(tmp_path)).labels, fold_tracks(0)[1])


def test_more_epochs_resume_a_run_except_on_a_cosine_schedule():
    """A cosine schedule spreads over the run's epochs: its finished epochs hold only for the same total."""
    def config(epochs, schedule):
        return {"train": {"net": "music", "epochs": epochs, "lr_schedule": schedule}}

    assert rundir.config_mismatch(config(20, "exponential"), config(30, "exponential")) == ""
    assert "epochs" in rundir.config_mismatch(config(20, "cosine"), config(30, "cosine"))
    assert rundir.config_mismatch(config(20, "cosine"), config(20, "cosine")) == ""
