"""`python -m launch.runs`: the runs of a workdir as a markdown table or JSON (mgc_jax.eval.runs is
tests/test_runs.py's)."""
from __future__ import annotations

import json

import pytest
from fake_runs import finished_runs
from launchers import run_command

from mgc_jax.train import rundir
from mgc_jax.workdir import Workdir


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
