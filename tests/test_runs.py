"""mgc_jax.eval.runs: one row per run directory, with its status (running while a live process holds its lock,
interrupted once that process is killed, finished, stale, damaged), filters and the markdown table."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

from fake_runs import finished_runs

from mgc_jax.eval import runs
from mgc_jax.train import rundir, runlock
from mgc_jax.workdir import Workdir, write_json

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_finished_runs_are_rows_with_their_numbers(tmp_path):
    wd = Workdir(tmp_path)
    finished_runs(wd)
    rows = runs.list_runs(wd)
    assert [(r.net, r.fold) for r in rows] == [("music", 0), ("music", 1), ("stft", 0), ("stft", 1)]
    r = rows[1]
    assert (r.corpus, r.split, r.seed, r.epochs, r.planned, r.status) == ("gtzan", "stratified", 3, 4, 4, "finished")
    assert (r.valid_accuracy, r.test_accuracy, r.wall_s) == (0.4, 0.5, 8.0)
    assert r.run_dir == str(wd.run_dir("gtzan", "stratified", "music", 1)) and len(r.date) == 16
    table = runs.markdown_table(rows).splitlines()
    assert table[0] == "| corpus | split | net | fold | seed | epochs | status | valid | test | wall | date |"
    assert table[2].startswith("| gtzan | stratified | music | 0 | 3 | 4/4 | finished | 0.400 | 0.250 | 0m08s | ")
    assert len(table) == 2 + 4 and all(line.count("|") == 12 for line in table)


def test_filters_and_folds_in_numeric_order(tmp_path):
    wd = Workdir(tmp_path)
    finished_runs(wd, folds=(2, 10))
    finished_runs(wd, corpus="synthetic", nets=("music",), folds=(0,))
    assert [(r.corpus, r.fold) for r in runs.list_runs(wd, net="music")] == [("gtzan", 2), ("gtzan", 10),
                                                                            ("synthetic", 0)]
    assert {r.corpus for r in runs.list_runs(wd, corpus="synthetic")} == {"synthetic"}
    assert runs.list_runs(wd, net="early") == []


def test_runs_of_other_dsp_code_are_stale(tmp_path):
    wd = Workdir(tmp_path)
    finished_runs(wd, nets=("music",), folds=(0,), dsp_code="aaaaaaaaaaaa")
    (r,) = runs.list_runs(wd, code_hash="bbbbbbbbbbbb")
    assert (r.status, r.note) == ("stale", "maps made by dsp code aaaaaaaaaaaa, today's is bbbbbbbbbbbb")
    assert "| stale (maps made by dsp code aaaaaaaaaaaa, today's is bbbbbbbbbbbb) |" in runs.markdown_table([r])
    assert runs.list_runs(wd, code_hash="aaaaaaaaaaaa")[0].status == "finished"
    assert runs.list_runs(wd)[0].status == "finished"  # nothing to compare with


def test_a_damaged_run_file_is_a_row_with_a_note(tmp_path):
    wd = Workdir(tmp_path)
    finished_runs(wd, nets=("music",), folds=(0, 1))
    (wd.run_dir("gtzan", "stratified", "music", 1) / rundir.RESULT).write_text("{not json")
    rows = runs.list_runs(wd)
    assert [r.status for r in rows] == ["finished", "damaged"]
    assert "result.json" in rows[1].note
    table = runs.markdown_table(rows)
    assert table.endswith(f"\n\n{rows[1].run_dir}: {rows[1].note}\n")


def test_the_baseline_is_listed_without_epochs(tmp_path):
    wd = Workdir(tmp_path)
    d = wd.run_dir("gtzan", "stratified", "baseline", 0)
    d.mkdir(parents=True)
    write_json(d / rundir.CONFIG, {"baseline": {"c": 1.0}, "corpus": "gtzan"})
    write_json(d / rundir.RESULT, {"test_track_acc": 0.7, "valid_track_acc": 0.6})
    (r,) = runs.list_runs(wd)
    assert (r.net, r.epochs, r.seed, r.test_accuracy, r.wall_s) == ("baseline", None, None, 0.7, None)
    assert "| baseline | 0 | – | – | interrupted | 0.600 | 0.700 | – |" in runs.markdown_table([r])


def test_a_run_being_trained_is_running_and_interrupted_once_killed(tmp_path):
    """A real training process (tests/support/fake_data.py) in a run directory: running while it holds the lock,
    interrupted with its finished epochs after a SIGKILL (its lock file left behind, its pid dead)."""
    wd = Workdir(tmp_path)
    run_dir = wd.run_dir("fake", "stratified", "music", 0)
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "support" / "fake_data.py"), str(run_dir),
                             "--epochs", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.time() + 300
        while not rundir.read_metrics(run_dir) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
        (r,) = runs.list_runs(wd)
        assert (r.status, r.note, r.planned) == ("running", f"pid {proc.pid} on {os.uname().nodename}", 200)
        assert r.epochs >= 1 and r.test_accuracy is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (r,) = runs.list_runs(wd)
    assert (run_dir / runlock.LOCK).exists()
    assert (r.status, r.note) == ("interrupted", "") and 1 <= r.epochs < 200 and r.test_accuracy is None
