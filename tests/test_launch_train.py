"""`python -m launch.train`: one training run from the command line; refusals are one `error:` line before any
work and change no file."""
from __future__ import annotations

import fake_extraction
import numpy as np
import pytest
import soundfile as sf
from launchers import one_error_line, run_command, snapshot


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
    one_error_line(code, err, 1, rf"^error: {run_dir} already has 2 epochs; run with epochs >= 2$")
    assert snapshot(workdir) == before  # config.json still says 2 epochs; nothing else touched either


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
