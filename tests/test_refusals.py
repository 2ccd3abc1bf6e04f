"""Hostile input, round two (issue 15): each case is refused in one line before any work, or has a documented
result; a refused command changes no file.

Launch commands run in the test process through `launch.common.one_line_errors` (tests/launchers.py), so an
`error:` line and the exit status are what a user sees; a traceback would fail the test.
"""
from __future__ import annotations

import pytest
from launchers import run_command, snapshot


def _one_error_line(code, err, expected_code, pattern):
    import re

    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert code == expected_code, err
    assert len(lines) == 1 and re.search(pattern, lines[0]) and err.strip().endswith(lines[0]), err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------- command flags


@pytest.mark.parametrize("value", [-5, 0])
@pytest.mark.parametrize("command", ["train", "crossval"])
def test_tracks_per_genre_below_one_is_a_flag_error_before_any_work(command, value, tmp_path, capsys):
    args = ["--net=music"] if command == "train" else []
    code, _, err = run_command(command, capsys, *args, f"--tracks_per_genre={value}", f"--workdir={tmp_path / 'w'}")
    _one_error_line(code, err, 2, rf"^error: --tracks_per_genre={value}: must be >= 1")
    assert not (tmp_path / "w").exists()  # 0 did not mean "unset": no default corpus was made


@pytest.mark.parametrize("value", [-5, 0])
def test_prepare_corpus_refuses_a_synthetic_size_below_one(value, tmp_path):
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.errors import DataError
    from mgc_jax.workdir import Workdir

    with pytest.raises(DataError, match=f"tracks_per_genre={value}: the synthetic corpus needs an int >= 1"):
        prepare_corpus(None, Workdir(tmp_path / "w"), tracks_per_genre=value, progress=False)
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("folds, bad", [("10", 10), ("0-20", 10), ("3,12", 12)])
def test_crossval_checks_every_fold_against_the_split_before_any_work(folds, bad, tmp_path, capsys):
    code, out, err = run_command("crossval", capsys, f"--folds={folds}", f"--workdir={tmp_path / 'w'}")
    _one_error_line(code, err, 2, rf"^error: --folds={folds}: fold {bad} out of range: the stratified split "
                                  r"has folds 0\.\.9")
    assert out == "" and not (tmp_path / "w").exists()  # no "run 1/N" line, nothing made


# ------------------------------------------------------------------------------------------ training runs


@pytest.fixture
def fake_corpus(tmp_path, monkeypatch):
    """launch.train / launch.crossval on `_fake_corpus` (prepare_corpus replaced): (workdir path, corpus)."""
    from fake_data import fake_corpus as make

    import mgc_jax.data.corpus

    corpus = make(tmp_path)
    monkeypatch.setattr(mgc_jax.data.corpus, "prepare_corpus", lambda *a, **k: corpus)
    return tmp_path / "w", corpus


TRAIN = ("--net=music", "--fold=0", "--k1=8", "--batch_size=20")


def test_fewer_epochs_than_a_finished_run_is_refused_and_changes_no_file(fake_corpus, capsys):
    workdir, _ = fake_corpus
    code, out, err = run_command("train", capsys, *TRAIN, "--epochs=2", f"--workdir={workdir}")
    assert code == 0, err
    run_dir = workdir / "runs" / "fakecorpus" / "stratified" / "music" / "fold0"
    before = snapshot(workdir)
    assert '"epochs": 2' in (run_dir / "config.json").read_text()
    code, out, err = run_command("train", capsys, *TRAIN, "--epochs=1", f"--workdir={workdir}")
    _one_error_line(code, err, 1, rf"^error: {run_dir} already has 2 epochs; run with epochs >= 2$")
    assert snapshot(workdir) == before  # config.json still says 2 epochs; nothing else touched either


# ------------------------------------------------------------------------------------------ one-class corpora


def _fake_extract_batch(x, cfg):
    """Stand-in for extraction._extract_batch with the real shapes (the corpus checks are under test, not dsp)."""
    import numpy as np

    import dsp

    b, t = len(x), dsp.n_frames(x.shape[1], cfg)
    return (np.ones((b, t, 8), np.float32), np.zeros((b, 8), np.int32), np.ones((b, t, cfg.n_bins), np.float32))


def _one_genre_gtzan(root, genre="blues", n=2, seconds=4):
    import numpy as np
    import soundfile as sf

    for i in range(n):
        path = root / "genres" / genre / f"{genre}.{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * np.random.default_rng(i).standard_normal(seconds * 22050), 22050, subtype="PCM_16")
    return root


def test_a_one_genre_gtzan_folder_is_refused_before_training(tmp_path, monkeypatch, capsys):
    from mgc_jax.data import extraction

    monkeypatch.setattr(extraction, "_extract_batch", _fake_extract_batch)
    root = _one_genre_gtzan(tmp_path / "gtzan")
    code, _, err = run_command("train", capsys, "--net=music", f"--data_dir={root}", f"--workdir={tmp_path / 'w'}",
                               "--epochs=1")
    _one_error_line(code, err, 1, rf"^error: {root}: every usable track is of one class \(blues\): training "
                                  r"needs at least 2 classes$")
    assert not (tmp_path / "w").exists()  # refused before extracting or training anything


def test_a_synthetic_corpus_left_with_one_genre_is_refused(tmp_path, monkeypatch):
    import shutil

    from mgc_jax.data import extraction
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.errors import DataError
    from mgc_jax.workdir import Workdir

    monkeypatch.setattr(extraction, "_extract_batch", _fake_extract_batch)
    wd = Workdir(tmp_path / "w")
    corpus = prepare_corpus(None, wd, tracks_per_genre=1, progress=False)
    for genre_dir in (corpus.root / "genres").iterdir():
        if genre_dir.name != "rock":
            shutil.rmtree(genre_dir)
    with pytest.raises(DataError, match=r"every usable track is of one class \(rock\)"):
        prepare_corpus(None, wd, tracks_per_genre=1, progress=False)


def test_train_and_evaluate_refuses_one_class_training_tracks(tmp_path):
    import dataclasses

    import numpy as np
    from fake_data import WIDTHS, make_fold_data, tiny_config

    from mgc_jax.errors import DataError
    from mgc_jax.train.loop import train_and_evaluate

    data = make_fold_data(("music",))
    one = dataclasses.replace(data, labels={**data.labels, "train": np.zeros_like(data.labels["train"])})
    with pytest.raises(DataError, match=rf"training tracks of fold 0 are all of one class \({data.genres[0]}\)"):
        train_and_evaluate(tiny_config(epochs=1), tmp_path / "run", one, in_bins=WIDTHS)
    assert not (tmp_path / "run" / "config.json").exists()


# ------------------------------------------------------------------------------------------ fusion of runs


@pytest.fixture(scope="module")
def music_run(tmp_path_factory):
    """A tiny finished net_MUSIC run (real feature widths) and a copy of it in another directory."""
    import shutil

    from fake_data import make_fold_data, tiny_config

    from mgc_jax.train.loop import train_and_evaluate

    base = tmp_path_factory.mktemp("fusion")
    res = train_and_evaluate(tiny_config(epochs=1), base / "music", make_fold_data(("music",)),
                             in_bins={"music": 8, "stft": 513})
    shutil.copytree(res.run_dir, base / "music_copy")
    return res.run_dir, base / "music_copy"


def test_the_same_run_twice_or_two_runs_of_one_net_are_not_fused(music_run):
    from mgc_jax.errors import DataError
    from mgc_jax.serve.inference import Classifier

    run, copy = music_run
    with pytest.raises(DataError, match=f"^{run} given twice: fusion needs two runs of different nets"):
        Classifier.from_checkpoint(run, run)
    with pytest.raises(DataError, match=f"^{run} and {copy} are both music runs: fusion needs two runs of "
                                        "different nets"):
        Classifier.from_checkpoint(run, copy)


def test_launch_predict_refuses_the_same_checkpoint_twice(music_run, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    from launch import predict

    run, copy = music_run
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(4 * 22050), 22050)
    code, out, err = run_command(predict, capsys, f"--checkpoint={run}", f"--checkpoint={run}/", audio)
    _one_error_line(code, err, 2, f"^error: --checkpoint={run} given twice: fusion needs two runs of different nets")
    code, out, err = run_command(predict, capsys, f"--checkpoint={run}", f"--checkpoint={copy}", audio)
    _one_error_line(code, err, 1, f"^error: {run} and {copy} are both music runs")
    assert out == ""  # no FUSION2 answer


# ------------------------------------------------------------------------------------------ inputs to predict


def test_too_short_names_samples_so_the_two_lengths_differ(music_run):
    from mgc_jax.errors import AudioError
    from mgc_jax.serve.inference import Classifier

    clf = Classifier.from_checkpoint(music_run[0])
    with pytest.raises(AudioError) as e:
        clf.predict(__import__("numpy").zeros(66047, "float32"))  # 2.99533 s: "3.00 s" when rounded to 2 digits
    assert e.value.cause == ("too short to classify: 66047 samples (2.995 s) at 22050 Hz, one clip needs 128 frames "
                             "= 66048 samples (2.995 s)")


def test_an_int16_array_predicts_like_the_same_16_bit_file(music_run, tmp_path):
    import numpy as np
    import soundfile as sf

    from mgc_jax.serve.inference import Classifier

    clf = Classifier.from_checkpoint(music_run[0])
    t = np.arange(4 * 22050) / 22050
    pcm = np.round(0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    path = tmp_path / "tone.wav"
    sf.write(path, pcm, 22050, subtype="PCM_16")
    from_file, from_array = clf.predict(path), clf.predict(pcm)
    np.testing.assert_array_equal(from_array.clip_probs, from_file.clip_probs)  # scaled by 2^-15, not raw units
    stereo_first = clf.predict(np.stack([pcm, pcm]))  # channels-first [2, n]: 2 channels, not n channels
    np.testing.assert_array_equal(stereo_first.clip_probs, from_file.clip_probs)


def test_ctrl_c_is_one_line_saying_the_command_resumes(capsys):
    from launch import common

    def main(argv):
        print("epoch 1 done")
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as e:
        common.one_line_errors(main)([])
    assert e.value.code == common.EXIT_INTERRUPTED == 130
    out, err = capsys.readouterr()
    assert out == "epoch 1 done\n"
    assert err.splitlines() == ["interrupted: what finished is on disk (epochs, extracted features); the same command "
                                "resumes from there"]
