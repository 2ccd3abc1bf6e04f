"""mgc_jax.train.rundir: the files of a run directory (config, metrics, test probabilities, result) and what they say;
its training lock: one trainer per run directory, stale locks taken over, another host's refused, released on every
exit, and what train_and_evaluate and launch.train do with it."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from fake_runs import fake_clip_probs, fold_tracks, write_run
from full_disk import ENOSPC

from mgc_jax.errors import DataError, DiskFullError
from mgc_jax.train import rundir
from mgc_jax.train.rundir import LOCK, RunLocked, lock_holder_alive, read_lock, run_lock


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


# --------------------------------------------------------------------------------------------- lock

@pytest.fixture
def holder(tmp_path):
    """A live process holding tmp_path/run's lock: (run_dir, Popen)."""
    from fake_runs import held_lock

    with held_lock(tmp_path / "run") as p:
        yield tmp_path / "run", p


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_live_holder_refuses_a_second_trainer_naming_pid_and_host(holder):
    run_dir, p = holder
    rec = read_lock(run_dir)
    assert (rec["pid"], rec["host"]) == (p.pid, socket.gethostname()) and rec["started"]
    with pytest.raises(RunLocked, match=rf"^{run_dir} is being trained by pid {p.pid} on {socket.gethostname()} "):
        with run_lock(run_dir):
            pytest.fail("entered a locked run")
    assert read_lock(run_dir)["pid"] == p.pid  # the refused process left the holder's lock alone


def test_the_lock_of_a_killed_process_is_taken_over_with_a_warning(holder, caplog):
    run_dir, p = holder
    p.kill()
    p.wait()
    assert (run_dir / LOCK).exists() and lock_holder_alive(read_lock(run_dir)) is False
    with run_lock(run_dir):
        assert read_lock(run_dir)["pid"] == os.getpid()
    assert f"pid {p.pid} on {socket.gethostname()}, which held its lock, is no longer running" in caplog.text
    assert not (run_dir / LOCK).exists() and [f.name for f in run_dir.iterdir()] == []


def test_a_reused_pid_reads_as_a_dead_holder(tmp_path):
    # Our own pid is alive, but with another process start time it is another process (pid reuse, reboot).
    rec = {"pid": os.getpid(), "host": socket.gethostname(), "proc_start": "other-boot:1", "started": "x"}
    if not rundir._proc_start(os.getpid()):
        pytest.skip("no /proc: pid reuse cannot be told here")
    assert lock_holder_alive(rec) is False
    assert lock_holder_alive({**rec, "proc_start": rundir._proc_start(os.getpid())}) is True
    assert lock_holder_alive({**rec, "pid": _dead_pid(), "proc_start": ""}) is False


def test_another_hosts_lock_is_never_broken(tmp_path):
    (tmp_path / LOCK).write_text(json.dumps({"pid": 1234, "host": "node-7.cluster", "started": "2026-01-01"}))
    with pytest.raises(RunLocked, match=rf"^{tmp_path} is being trained by pid 1234 on node-7.cluster \(since "
                                        rf"2026-01-01\); it is another host's lock: if no training runs there, "
                                        rf"delete {tmp_path / LOCK}$"):
        with run_lock(tmp_path):
            pass
    assert json.loads((tmp_path / LOCK).read_text())["host"] == "node-7.cluster"


def test_an_empty_lock_file_is_young_then_stale(tmp_path, caplog):
    (tmp_path / LOCK).write_text("")  # O_EXCL made it, its creator has not written it yet
    with pytest.raises(RunLocked, match="is being locked by another process"):
        with run_lock(tmp_path):
            pass
    old = time.time() - 60
    os.utime(tmp_path / LOCK, (old, old))  # a creator that died before writing
    with run_lock(tmp_path):
        assert read_lock(tmp_path)["pid"] == os.getpid()
    assert "unreadable lock file, 60 s old, taken over" in caplog.text


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_the_lock_is_released_on_an_exception_and_on_ctrl_c(tmp_path, exc):
    with pytest.raises(exc):
        with run_lock(tmp_path):
            assert (tmp_path / LOCK).exists()
            raise exc()
    assert not (tmp_path / LOCK).exists()
    with run_lock(tmp_path):  # free again
        pass


def test_a_disabled_lock_holds_nothing(holder):
    run_dir, p = holder
    with run_lock(run_dir, enabled=False):  # a non-primary process of a multi-process run
        pass
    assert read_lock(run_dir)["pid"] == p.pid


def test_train_and_evaluate_refuses_a_locked_run_and_writes_nothing(holder):
    from fake_data import WIDTHS, make_fold_data, tiny_config

    from mgc_jax.train.loop import train_and_evaluate

    run_dir, p = holder
    cfg = tiny_config(epochs=1)
    with pytest.raises(RunLocked, match=f"is being trained by pid {p.pid}"):
        train_and_evaluate(cfg, run_dir, make_fold_data(cfg.kinds), in_bins=WIDTHS)
    assert sorted(f.name for f in run_dir.iterdir()) == [LOCK]
