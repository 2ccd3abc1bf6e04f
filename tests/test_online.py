"""Online features (mgc_jax.train.online): clips cut from audio in memory, with audio augmentation.

The end-to-end tests train on `short_corpus.two_genre_corpus` (20 tracks of 8 s, two genres; stratified fold
0 trains on 16 tracks of 4 clips) so each run takes seconds: the cached run, the online run (same epoch-1 loss to
1e-3; here it is bit-equal), and the augmented one (other losses, the same on a rerun and after a resume).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from short_corpus import two_genre_corpus


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    return two_genre_corpus(tmp_path_factory.mktemp("online_corpus"))


def _run(corpus_dir, workdir, **overrides):
    from fake_data import tiny_config

    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train import loop as train
    from mgc_jax.workdir import Workdir

    wd = Workdir(workdir)
    corpus = prepare_corpus(str(corpus_dir), wd, progress=False)
    cfg = tiny_config("music", **{"epochs": 1, **overrides})
    result = train.run(cfg, wd, corpus)
    return [json.loads(line) for line in open(result.metrics_path)], corpus


def test_common_length_is_the_most_common_crop_and_short_tracks_keep_their_own_clips():
    from dsp import FeatureConfig, n_frames
    from mgc_jax.data.clips import clip_starts
    from mgc_jax.data.maps import min_samples
    from mgc_jax.errors import DataError
    from mgc_jax.train.online import OnlineClips, common_length

    cfg = FeatureConfig()
    assert common_length([661500, 661500, 595350], cfg) == 661500  # gtzan_mini: 48 x 661,500, 2 x 595,350
    assert common_length([595350, 661500], cfg) == 661500  # a tie goes to the longer
    with pytest.raises(DataError, match="less than one 128-frame clip"):
        common_length([min_samples(cfg) - 1] * 2 + [661500], cfg)
    n = 8 * 22050
    clips = OnlineClips(np.zeros((2, n), np.float32), [0, 1], cfg, lengths=[n, 4 * 22050])
    want = [clip_starts(n_frames(m, cfg)).size for m in (n, 4 * 22050)]
    assert want[1] < want[0] and clips.n_clips == sum(want)
    assert max(s for s, t in zip(clips._start, clips._track) if t == 1) == clip_starts(n_frames(4 * 22050, cfg))[-1]


# -------------------------------------------------------------------------------------- end to end


def test_online_clips_equal_the_cached_clips(corpus_dir, tmp_path):
    import jax

    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train import online
    from mgc_jax.workdir import Workdir

    corpus = prepare_corpus(str(corpus_dir), Workdir(tmp_path), progress=False)
    ids = [t.track_id for t in corpus.tracks][:3]
    clips = online.OnlineClips.from_corpus(corpus, ids, np.zeros(3))
    batch = next(clips.batches(6, seed=0, epoch=1))
    fn = jax.jit(jax.vmap(lambda x, s: online.clip_maps(x, s, jax.random.key(0), cfg=corpus.cfg,
                                                         kinds=("music", "stft"))))
    got = fn(batch.x["audio"], batch.x["start"])
    for j, (t, s) in enumerate(zip(batch.track, batch.x["start"])):
        for kind in ("music", "stft"):
            want = corpus.cache.load(ids[t], kind)[s:s + 128]
            np.testing.assert_allclose(np.asarray(got[kind][j]), want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_online_training_equals_the_cached_run_and_augmentation_is_seeded(corpus_dir, tmp_path):
    cached, _ = _run(corpus_dir, tmp_path / "cached")
    on, _ = _run(corpus_dir, tmp_path / "online", features="online")
    assert abs(on[0]["loss"] - cached[0]["loss"]) <= 1e-3 * abs(cached[0]["loss"])
    assert on[0]["valid_loss"] == pytest.approx(cached[0]["valid_loss"], rel=1e-3)
    aug = dict(features="online", augment=("gain", "noise", "shift"))
    a1, _ = _run(corpus_dir, tmp_path / "aug1", **aug)
    a2, _ = _run(corpus_dir, tmp_path / "aug2", **aug)
    assert abs(a1[0]["loss"] - on[0]["loss"]) > 1e-3 * abs(on[0]["loss"])
    assert a1[0]["loss"] == a2[0]["loss"]
    other, _ = _run(corpus_dir, tmp_path / "aug3", seed=1, **aug)
    assert other[0]["loss"] != a1[0]["loss"]
    # Resumable: one more epoch on aug1 equals a two-epoch run from scratch.
    resumed, _ = _run(corpus_dir, tmp_path / "aug1", epochs=2, **aug)
    fresh, _ = _run(corpus_dir, tmp_path / "aug4", epochs=2, **aug)
    assert [m["loss"] for m in resumed] == [m["loss"] for m in fresh]


@pytest.mark.slow  # ~15-40 s on 2 cores: keeps the default suite near 10 min
def test_online_training_with_random_crops_and_mixup_equals_the_cached_run(corpus_dir, tmp_path):
    reg = dict(crops="random", mixup=0.4)  # the real-music defaults: the same crops and mixing on both paths
    cached, _ = _run(corpus_dir, tmp_path / "cached", **reg)
    on, _ = _run(corpus_dir, tmp_path / "online", features="online", **reg)
    grid, _ = _run(corpus_dir, tmp_path / "grid")
    # The two paths agree to float rounding (bitwise here), far closer than random crops differ from the grid's
    # (4e-4 relative after one epoch on these 8 s tracks, whose crops move by under one grid hop).
    assert abs(on[0]["loss"] - cached[0]["loss"]) <= 1e-5 * abs(cached[0]["loss"])
    assert abs(cached[0]["loss"] - grid[0]["loss"]) > 1e-4 * abs(grid[0]["loss"])
