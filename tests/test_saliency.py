"""Waveform saliency (mgc_jax.serve.saliency, Classifier.saliency): the gradient of a net's score with respect to the
audio samples, on conftest's two_genre_runs."""
from __future__ import annotations

import numpy as np
import pytest


def test_saliency_is_the_gradient_of_the_score(two_genre_runs):
    import jax

    from mgc_jax.data import audio
    from mgc_jax.serve.inference import Classifier
    from mgc_jax.serve.saliency import TrackModel

    wd, corpus, dirs = two_genre_runs
    path = corpus.tracks[0].path
    x = audio.load(path, corpus.cfg.sample_rate)
    clf = Classifier.from_checkpoint(dirs["music"])
    sal = clf.saliency(path)
    assert sal.genre == clf.predict(path).genre
    assert sal.gradient.shape == x.shape and sal.gradient.dtype == np.float32
    assert np.isfinite(sal.gradient).all() and np.abs(sal.gradient).max() > 0
    assert set(sal.attribution) == {"music"} and sal.attribution["music"].shape == (8,)
    # The map-then-waveform chain of `saliency` equals the gradient of the composed score, and the attribution
    # is gradient x input of the map. (The music map holds step functions, zcr and the MinRMS trims, so a
    # finite difference of the waveform does not see its gradient; the STFT check below does.)
    model = TrackModel(clf.trained, clf.feature_cfg, x.size)
    direct = jax.jit(jax.grad(lambda v: model.score(model.params, v, sal.label)))(x)
    np.testing.assert_allclose(sal.gradient, direct, rtol=1e-4, atol=1e-6 * np.abs(direct).max())
    maps = model.maps(x)
    d_maps = jax.grad(lambda m: model.fused(model.net_log_probs_from_maps(model.params, m))[:, sal.label].mean())(maps)
    np.testing.assert_allclose(sal.attribution["music"], (d_maps["music"] * maps["music"]).sum(0), rtol=1e-4,
                               atol=1e-6 * np.abs(sal.attribution["music"]).max())
    assert not np.any(sal.gradient[model.spec.kept:])  # samples past the crop are not analysed

    # net_STFT: |STFT| is smooth away from zero, so a central difference along the gradient gives its norm.
    stft = Classifier.from_checkpoint(dirs["stft"])
    s2 = stft.saliency(x)
    assert s2.attribution["stft"].shape == (513,)
    m2 = TrackModel(stft.trained, stft.feature_cfg, x.size)
    g = s2.gradient.astype(np.float64)
    u = (g / np.linalg.norm(g)).astype(np.float32)
    # h = 3e-5 |x|: at 1e-3 |x| ReLU switches (curvature) moved the difference by 10 %; from 3e-5 down to 1e-5
    # it sat within 0.02 % of |g| on this corpus, and float32 rounding of S (~1e-7) costs ~1e-5 relative here.
    h = 3e-5 * np.linalg.norm(x)
    score = jax.jit(lambda v: m2.score(m2.params, v, s2.label))
    fd = (float(score(x + h * u)) - float(score(x - h * u))) / (2 * h)
    assert fd == pytest.approx(np.linalg.norm(g), rel=0.01)

    both = Classifier.from_checkpoint(dirs["stft"], dirs["music"]).saliency(x)
    assert set(both.attribution) == {"music", "stft"} and np.isfinite(both.gradient).all()
