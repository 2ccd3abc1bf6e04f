"""mgc_jax.eval.runs and launch.runs: one row per run directory, with its status (running while a live process
holds its lock, interrupted once that process is killed, finished, stale, damaged), filters, markdown and JSON."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from fake_runs import fold_tracks, write_fake_runs
from launchers import run_command

from mgc_jax.config import TrainConfig
from mgc_jax.eval import runs
from mgc_jax.train import rundir
from mgc_jax.workdir import Workdir, write_json

REPO = pathlib.Path(__file__).resolve().parents[1]


def finished_runs(wd: Workdir, corpus="gtzan", nets=("stft", "music"), folds=(0, 1), *, dsp_code=None):
    """Fake finished runs with a config.json (seed 3, 4 epochs), metrics.jsonl (2 s per epoch) and result.json."""
    write_fake_runs(wd, corpus, "stratified", nets, folds,
                    train_cfg=lambda net, fold: TrainConfig(net=net, fold=fold, epochs=4, seed=3,
                                                            n_folds=max(10, fold + 1)).to_dict())
    for net in nets:
        for fold in folds:
            d = wd.run_dir(corpus, "stratified", net, fold)
            if dsp_code is not None:
                write_json(d / rundir.CONFIG, {**rundir.read_config(d), "dsp_code": dsp_code})
            rundir.write_metrics(d, [{"epoch": e, "valid_track_acc": 0.1 * e, "epoch_s": 2.0} for e in (1, 2, 3, 4)])
            rundir.write_result(d, {"best_epoch": 4, "epochs": 4, "valid_track_acc": 0.4, "valid_clip_acc": 0.3,
                                    "test_track_acc": 0.25 + 0.25 * fold, "test_clip_acc": 0.2, "test_loss": 1.0})


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
    ids, labels = fold_tracks(0)
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
    assert (run_dir / rundir.LOCK).exists()
    assert (r.status, r.note) == ("interrupted", "") and 1 <= r.epochs < 200 and r.test_accuracy is None


def test_launch_runs_prints_a_table_and_json(tmp_path, capsys):
    wd = Workdir(tmp_path)
    finished_runs(wd, nets=("music", "stft"), folds=(0,))
    code, out, err = run_command("runs", capsys, f"--workdir={tmp_path}", "--net=music")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and lines[2].startswith("| gtzan | stratified | music | 0 | 3 | 4/4 | finished |")
    code, out, err = run_command("runs", capsys, f"--workdir={tmp_path}", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["workdir"] == str(tmp_path)
    assert [(r["net"], r["fold"], r["status"], r["test_accuracy"]) for r in doc["runs"]] == [
        ("music", 0, "finished", 0.25), ("stft", 0, "finished", 0.25)]
    code, out, err = run_command("runs", capsys, f"--workdir={tmp_path / 'none'}")
    assert (code, out) == (0, f"no runs under {tmp_path / 'none' / 'runs'}\n")
    code, out, err = run_command("runs", capsys, f"--workdir={tmp_path}", "stray")
    assert code == 2 and err.strip() == "error: unexpected arguments: stray"


@pytest.mark.slow
def test_launch_runs_lists_a_trained_run(tmp_path, monkeypatch, capsys):
    """After launch.train --epochs=2 (the fake corpus of tests/support): net, fold, status, test accuracy."""
    from fake_data import fake_corpus

    import mgc_jax.data.corpus

    corpus = fake_corpus(tmp_path)
    monkeypatch.setattr(mgc_jax.data.corpus, "prepare_corpus", lambda *a, **k: corpus)
    code, out, err = run_command("train", capsys, "--net=music", "--fold=1", "--k1=8", "--batch_size=20",
                                 "--epochs=2", f"--workdir={tmp_path / 'w'}")
    assert code == 0, err
    result = rundir.read_result(tmp_path / "w" / "runs" / "fakecorpus" / "stratified" / "music" / "fold1")
    code, out, err = run_command("runs", capsys, f"--workdir={tmp_path / 'w'}", "--json")
    assert code == 0, err
    (r,) = json.loads(out)["runs"]
    assert (r["net"], r["fold"], r["status"], r["epochs"], r["planned"]) == ("music", 1, "finished", 2, 2)
    assert r["test_accuracy"] == result["test_track_acc"] and r["wall_s"] > 0
