"""Tests of mgc_jax.train.runlock: one training per run directory."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from mgc_jax.train import runlock
from mgc_jax.train.runlock import (
    LOCK,
    RunLocked,
    lock_holder_alive,
    read_lock,
    run_lock,
)


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
    if not runlock._proc_start(os.getpid()):
        pytest.skip("no /proc: pid reuse cannot be told here")
    assert lock_holder_alive(rec) is False
    assert lock_holder_alive({**rec, "proc_start": runlock._proc_start(os.getpid())}) is True
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
