"""`python -m launch.crossval`: train every fold and net, then fuse and report; flag errors before any work."""
from __future__ import annotations

import json

import pytest
from fake_runs import write_fake_runs
from launchers import one_error_line, run_command, run_module

from mgc_jax.workdir import Workdir


@pytest.mark.parametrize("folds, bad", [("10", 10), ("0-20", 10), ("3,12", 12)])
def test_crossval_checks_every_fold_against_the_split_before_any_work(folds, bad, tmp_path, capsys):
    code, out, err = run_command("crossval", capsys, f"--folds={folds}", f"--workdir={tmp_path / 'w'}")
    one_error_line(code, err, 2, rf"^error: --folds={folds}: fold {bad} out of range: the stratified split "
                                 r"has folds 0\.\.9")
    assert out == "" and not (tmp_path / "w").exists()  # no "run 1/N" line, nothing made


def _paper_defaults(net, fold, **kw):
    from mgc_jax.config import TrainConfig

    return TrainConfig(net=net, fold=fold, **kw).to_dict()


def test_launch_crossval_on_finished_runs_trains_nothing_and_prepares_nothing(tmp_path):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "synthetic", "stratified", ("stft", "music"), range(10),
                    train_cfg=lambda net, fold: _paper_defaults(net, fold, epochs=3))
    proc = run_module("launch.crossval", "--nets=stft,music", "--folds=0-9", "--epochs=3", "--nobaseline",
                   f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained 0 runs, reused 20 finished runs" in proc.stdout
    assert "warning" not in proc.stdout
    out = wd.results_dir("synthetic", "stratified")
    for name in ("table2.md", "table1.md", "results.json", "confusion_FUSION2.png"):
        assert f"wrote {out / name}" in proc.stdout
    assert "| FUSION2 |" in proc.stdout and "91.0 ± 1.2" not in proc.stdout  # Table 2; no paper: not GTZAN
    assert not (tmp_path / "corpora").exists() and not (tmp_path / "features").exists()
    assert json.loads((out / "results.json").read_text())["n_tracks"] == 200


@pytest.mark.parametrize("args,message", [
    (["--nets=stft,cqt"], "error: --nets=stft,cqt: nets: unknown net 'cqt'"),
    (["--folds=3-1"], "error: --folds=3-1: folds '3-1': empty range 3-1"),
    (["--split=filtered", "--folds=0-9"], "error: --folds=0-9: the filtered split has one train/valid/test split"),
    (["--epochs=0"], "error: --epochs=0: must be >= 1"),  # the only case that gets as far as importing JAX
    (["--n_boot=10000000000"], "error: --n_boot=10000000000: must be in 1..1000000"),
    (["--bootstrap_seed=-3"], "error: --bootstrap_seed=-3: must be in 0..9223372036854775807"),
    (["--n_folds=100000000000000000000"], "error: --n_folds=100000000000000000000: expected an int >= 3 and <= 1000"),
])
def test_launch_crossval_bad_flags_give_one_line(tmp_path, args, message):
    proc = run_module("launch.crossval", *args, f"--workdir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in proc.stderr and not any(tmp_path.iterdir())


@pytest.mark.slow
def test_launch_crossval_end_to_end_on_a_synthetic_corpus(tmp_path):
    """The issue's acceptance run: both nets, ten folds, tiny epochs, on a freshly made synthetic corpus; then the
    same command again trains nothing and rewrites the same tables."""
    args = ["--nets=stft,music", "--folds=0-9", "--epochs=2", "--k1=16", "--tracks_per_genre=10",
            f"--workdir={tmp_path}"]
    first = run_module("launch.crossval", *args, timeout=3600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "trained 20 runs, reused 0 finished runs" in first.stdout
    out = Workdir(tmp_path).results_dir("synthetic", "stratified")
    table2 = (out / "table2.md").read_text()
    for system in ("net_STFT", "net_MUSIC", "FUSION1", "FUSION2"):
        assert f"| {system} |" in table2 and (out / f"confusion_{system}.png").is_file()
    results = json.loads((out / "results.json").read_text())
    assert results["n_tracks"] == 100 and results["folds"] == list(range(10))
    again = run_module("launch.crossval", *args, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "trained 0 runs, reused 20 finished runs" in again.stdout
    assert (out / "table2.md").read_text() == table2
