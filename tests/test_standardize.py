"""mgc_jax.nets.standardize: per-bin statistics fitted on the training tracks only."""
from __future__ import annotations

import numpy as np
from fake_data import make_fold_data

from mgc_jax.nets.standardize import Standardizer


def test_standardizer_fit_on_training_tracks_only():
    data = make_fold_data(("music", "stft"))
    std = Standardizer.fit(data.cache, data.ids["train"], ("music", "stft"))
    for kind in ("music", "stft"):
        frames = np.concatenate([data.cache.load(t, kind) for t in data.ids["train"]]).astype(np.float64)
        # float64 accumulation vs NumPy's pairwise float64 sums, stored as float32
        np.testing.assert_allclose(std.mean[kind], frames.mean(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(std.std[kind], frames.std(0), rtol=1e-5)
        everything = np.concatenate([data.cache.load(t, kind) for v in data.ids.values() for t in v])
        assert not np.allclose(std.mean[kind], everything.mean(0), rtol=1e-4)  # valid/test frames not used
        z = std({kind: frames.astype(np.float32)})[kind]
        np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-4)  # float32 standardisation of ~200 frames
        np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-4)
