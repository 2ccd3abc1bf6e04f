"""`python -m launch.train`: one training run from the command line; refusals are one `error:` line before any
work and change no file."""
from __future__ import annotations

import fake_extraction
import numpy as np
import pytest
import soundfile as sf
from launchers import one_error_line, run_command, run_module, snapshot

from mgc_jax.train import rundir, runlock


@pytest.fixture
def fake_corpus(tmp_path, monkeypatch):
    """launch.train / launch.crossval on `_fake_corpus` (prepare_corpus replaced): (workdir path, corpus)."""
    from fake_data import fake_corpus as make

    import mgc_jax.data.corpus

    corpus = make(tmp_path)
    monkeypatch.setattr(mgc_jax.data.corpus, "prepare_corpus", lambda *a, **k: corpus)
    return tmp_path / "w", corpus


# A constant rate, so that a run resumes to more or fewer epochs (a cosine schedule is fixed by its total).
TRAIN = ("--net=music", "--fold=0", "--k1=8", "--batch_size=20", "--lr_schedule=exponential")


def test_fewer_epochs_than_a_finished_run_is_refused_and_changes_no_file(fake_corpus, capsys):
    workdir, _ = fake_corpus
    code, out, err = run_command("train", capsys, *TRAIN, "--epochs=2", f"--workdir={workdir}")
    assert code == 0, err
    run_dir = workdir / "runs" / "fakecorpus" / "stratified" / "music" / "fold0"
    before = snapshot(workdir)
    assert '"epochs": 2' in (run_dir / "config.json").read_text()
    code, out, err = run_command("train", capsys, *TRAIN, "--epochs=1", f"--workdir={workdir}")
    one_error_line(code, err, 1, rf"^error: {run_dir} already has 2 epochs; run with epochs >= 2$")
    assert snapshot(workdir) == before  # config.json still says 2 epochs; nothing else touched either


def test_a_cosine_run_asked_for_more_epochs_is_refused_naming_them(fake_corpus, capsys):
    """The default cosine schedule spreads over the run's epochs: its finished epochs do not continue to another
    total, so the command refuses in one line instead of training a schedule no run would have had."""
    workdir, _ = fake_corpus
    args = ("--net=music", "--fold=0", "--k1=8", "--batch_size=20", f"--workdir={workdir}")
    code, out, err = run_command("train", capsys, *args, "--epochs=1")
    assert code == 0, err
    before = snapshot(workdir)
    code, out, err = run_command("train", capsys, *args, "--epochs=2")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "epochs" in err and "1" in err and "2" in err, err
    assert snapshot(workdir) == before


def _one_genre_gtzan(root, genre="blues", n=2, seconds=4):
    for i in range(n):
        path = root / "genres" / genre / f"{genre}.{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * np.random.default_rng(i).standard_normal(seconds * 22050), 22050, subtype="PCM_16")
    return root


def test_a_one_genre_gtzan_folder_is_refused_before_training(tmp_path, monkeypatch, capsys):
    fake_extraction.install(monkeypatch, "ones")
    root = _one_genre_gtzan(tmp_path / "gtzan")
    code, _, err = run_command("train", capsys, "--net=music", f"--data_dir={root}", f"--workdir={tmp_path / 'w'}",
                               "--epochs=1")
    one_error_line(code, err, 1, rf"^error: {root}: every usable track is of one class \(blues\): training "
                                 r"needs at least 2 classes$")
    assert not (tmp_path / "w").exists()  # refused before extracting or training anything


def test_launch_train_reports_a_full_disk_during_a_checkpoint_save_and_the_rerun_resumes(tmp_path, monkeypatch,
                                                                                         capsys):
    """orbax's ValueError(RESOURCE_EXHAUSTED ... No space left on device) becomes one line naming the step
    directory; the rerun resumes from the last saved epoch and ends as an uninterrupted run does."""
    from fake_data import fake_corpus

    import mgc_jax.data.corpus
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


def _launch(*args, timeout=120):
    return run_module("launch.train", *args, timeout=timeout)


def test_launcher_empty_data_dir_gives_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _launch("--net=music", f"--data_dir={empty}", f"--workdir={tmp_path / 'ws'}")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(empty) in last
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--net=music", "--fold=12"], "error: --fold=12: expected 0..9"),
    (["--net=cqt"], "error: --net='cqt': expected one of ['early', 'music', 'stft']"),
])
def test_launcher_bad_flags_give_one_line(tmp_path, args, message):
    proc = _launch(*args, f"--workdir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing was made


@pytest.mark.slow
def test_launcher_end_to_end_on_a_synthetic_corpus(tmp_path):
    """`python -m launch.train` on a freshly made 10-tracks-per-genre synthetic corpus (audio, extraction,
    split, training, test pass), then the same command again (a finished run: test pass only)."""
    args = ["--net=music", "--fold=3", "--epochs=2", "--k1=16", "--tracks_per_genre=10", f"--workdir={tmp_path}"]
    first = _launch(*args, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    run_dir = tmp_path / "runs" / "synthetic" / "stratified" / "music" / "fold3"
    assert f"checkpoints:        {run_dir / 'checkpoints'}" in first.stdout
    assert f"metrics:            {run_dir / 'metrics.jsonl'}" in first.stdout
    assert f"test probabilities: {run_dir / 'test_probs.npz'}" in first.stdout
    assert [r["epoch"] for r in rundir.read_metrics(run_dir)] == [1, 2]
    again = _launch(*args, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0]  # same best epoch and accuracies


# ------------------------------------------------------------------------------ lock and TensorBoard events


def test_a_second_launch_train_of_one_run_refuses_in_one_line(fake_corpus, capsys):
    """Two identical `launch.train --fold=1` on one workdir: the second (here: while a live process holds the
    run's lock, as the first would) exits 1 with one line, and the run directory is untouched."""
    import socket

    from fake_runs import held_lock

    workdir, _ = fake_corpus
    run_dir = workdir / "runs" / "fakecorpus" / "stratified" / "music" / "fold1"
    with held_lock(run_dir) as p:
        code, _, err = run_command("train", capsys, "--net=music", "--fold=1", "--k1=8", "--epochs=1",
                                     f"--workdir={workdir}")
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [f"error: {run_dir} is being trained by pid {p.pid} on "
                                        f"{socket.gethostname()} (since {runlock.read_lock(run_dir)['started']})"]
    assert sorted(f.name for f in run_dir.iterdir()) == [runlock.LOCK]


@pytest.mark.slow
def test_two_epochs_then_a_third_continue_the_tensorboard_curves(fake_corpus, capsys):
    """The issue's check through the command: --epochs=2, then --epochs=3 resumes the same curves, read with
    TensorBoard's own reader (tests/test_summaries.py has the details)."""
    from tb_events import accumulator, raw_steps

    workdir, _ = fake_corpus
    args = (*TRAIN, f"--workdir={workdir}")
    code, out, err = run_command("train", capsys, *args, "--epochs=2")
    assert code == 0, err
    run_dir = workdir / "runs" / "fakecorpus" / "stratified" / "music" / "fold0"
    assert f"tensorboard:        tensorboard --logdir={run_dir}" in out
    assert [e.step for e in accumulator(run_dir).Scalars("train/loss")] == [1, 2]
    code, out, err = run_command("train", capsys, *args, "--epochs=3")
    assert code == 0, err
    acc = accumulator(run_dir)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3]
    assert [e.step for e in acc.Scalars("valid/track_accuracy")] == [1, 2, 3]
    assert all(len(v) == len(set(v)) for v in raw_steps(run_dir).values())
    code, _, err = run_command("train", capsys, "--net=music", "--fold=1", "--k1=8", "--batch_size=20",
                               "--epochs=1", "--notensorboard", f"--workdir={workdir}")
    assert code == 0, err
    assert not list((run_dir.parent / "fold1").glob("events.out.tfevents.*"))
