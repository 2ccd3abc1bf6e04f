"""The whole pipeline on real audio: ../shared/gtzan_mini (50 GTZAN tracks), one of 5 stratified folds.

Slow (extraction of 50 x 30 s plus a short training run); skipped where ../shared/gtzan_mini is absent.
It checks that the outputs are sane and consistent, not an accuracy (a few epochs on 30 tracks would flake).
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mini(shared_dir, tmp_path_factory):
    root = shared_dir / "gtzan_mini" / "genres"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.data.folds import stratified_folds
    from mgc_jax.workdir import Workdir

    wd = Workdir(tmp_path_factory.mktemp("work"))
    corpus = prepare_corpus(str(root), wd, progress=False)
    return corpus, wd, stratified_folds(corpus.tracks, n_folds=5)[0]


def test_extraction_of_the_fifty_tracks(mini):
    corpus, _, split = mini
    assert len(corpus.tracks) == 50 and not corpus.problems
    assert (len(split.train), len(split.valid), len(split.test)) == (30, 10, 10)
    for t in corpus.tracks[:3]:
        stft, music = corpus.cache.load(t.track_id, "stft"), corpus.cache.load(t.track_id, "music")
        assert stft.shape == (1290, 513) and music.shape == (1290, 8)
        assert np.isfinite(stft).all() and np.isfinite(music).all() and (stft >= 0).all()


def test_net_stft_log1p_standardised_trains_and_inference_matches_its_test_pass(mini, tmp_path):
    from mgc_jax.config import TrainConfig, feature_widths
    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train.loop import fold_data, train_and_evaluate
    from mgc_jax.train.rundir import read_test_probs

    corpus, _, split = mini
    cfg = TrainConfig(net="stft", fold=0, epochs=2, standardize=True, stft_transform="log1p")
    data = fold_data(cfg, corpus, split)
    res = train_and_evaluate(cfg, tmp_path / "run", data, in_bins=feature_widths(corpus.cfg))
    assert 0.0 <= res.test_accuracy <= 1.0 and res.best_epoch in (1, 2) and res.epochs == 2
    tp = read_test_probs(res.test_probs_path)
    assert tp.track_ids == split.test
    assert [p.shape for p in tp.probs] == [(n, 10) for n in data.test.clips_per_track()]
    assert all(1 <= n <= 18 for n in data.test.clips_per_track())
    np.testing.assert_allclose(np.concatenate(tp.probs).sum(1), 1.0, rtol=1e-5)

    # Inference from raw cached maps (transform and standardizer restored from the checkpoint) gives the
    # training run's own test probabilities.
    trained = load_trained(res.run_dir)
    raw = corpus.cache.load(split.test[0], "stft")
    clips = np.stack([raw[s : s + 128] for s in range(0, len(tp.probs[0]) * 64, 64)])
    np.testing.assert_allclose(trained.predict({"stft": clips}), tp.probs[0], rtol=1e-5, atol=1e-6)
    # The standardizer saw log1p maps: their per-bin means are O(1), the raw magnitudes' are not.
    assert np.abs(trained.standardizer.mean["stft"]).max() < 10


def test_baseline_on_the_same_fold(mini, tmp_path):
    from mgc_jax.eval import baseline
    from mgc_jax.train.rundir import read_test_probs

    corpus, _, split = mini
    res = baseline.fit_and_evaluate(corpus, split, run_dir=tmp_path / "svm")
    assert res.n_test == 10 and 0.0 <= res.test_accuracy <= 1.0
    tp = read_test_probs(res.test_probs_path)
    assert tp.track_ids == split.test
    np.testing.assert_allclose(res.probs.sum(1), 1.0, rtol=1e-5)
