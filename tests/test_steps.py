"""mgc_jax.train.steps: the jitted training step, mixup and the per-track metrics."""
from __future__ import annotations

import jax
import numpy as np

from mgc_jax.train.steps import mix_batch


def test_mix_batch_mixes_real_rows_with_real_partners():
    n, c = 8, 6
    x = {"music": np.arange(n, dtype=np.float32)[:, None, None] * np.ones((n, 4, 3), np.float32)}
    y = np.array([0, 1, 2, 3, 4, 5, 0, 0], np.int32)  # real row i has label i: its partner can be read back
    w = np.array([1, 1, 1, 1, 1, 1, 0, 0], np.float32)  # two padding rows
    moved = 0
    for seed in range(5):
        mixed, target = mix_batch(x, y, w, jax.random.key(seed), alpha=0.4, num_classes=c)
        mixed, target = np.asarray(mixed["music"]), np.asarray(target)
        np.testing.assert_allclose(target.sum(1), 1.0, rtol=1e-6)
        for i in range(6):
            assert np.all(mixed[i] == mixed[i, 0, 0])  # one weight per row
            lam = target[i, i]
            others = [j for j in range(c) if j != i and target[i, j] > 1e-6]
            assert len(others) <= 1
            j = others[0] if others else i  # the partner, a real row (labels 0..5 are rows 0..5 only)
            np.testing.assert_allclose(mixed[i, 0, 0], lam * i + (1 - lam) * j, rtol=1e-5, atol=1e-5)
            moved += j != i
    assert moved > 10
    again = mix_batch(x, y, w, jax.random.key(4), alpha=0.4, num_classes=c)
    np.testing.assert_array_equal(np.asarray(again[0]["music"]), mixed)  # a pure function of the key
