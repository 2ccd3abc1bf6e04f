"""mgc_jax.data.augment: audio augmentations (gain, noise, shift) within their ranges, seeded by a JAX key."""
from __future__ import annotations

import numpy as np
import pytest


def test_augmentations_stay_in_their_ranges_and_are_reproducible():
    import jax

    from mgc_jax.data import augment

    x = np.random.default_rng(0).standard_normal(4096).astype(np.float32) * 0.1
    key = jax.random.key(3)
    for k in range(8):
        kk = jax.random.fold_in(key, k)
        g = np.asarray(augment.random_gain(x, kk))
        db = 20 * np.log10(np.abs(g).sum() / np.abs(x).sum())
        assert -augment.GAIN_DB - 1e-3 <= db <= augment.GAIN_DB + 1e-3
        n = np.asarray(augment.random_noise(x, kk))
        snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((n - x).astype(np.float64) ** 2))
        # The noise's sample power scatters around sigma² by ~sqrt(2/4096) = 2 % (0.1 dB).
        assert augment.SNR_DB[0] - 0.3 <= snr <= augment.SNR_DB[1] + 0.3
        s = np.asarray(augment.random_shift(x, kk))
        shift = int(np.argmax([np.array_equal(np.roll(x, j), s) for j in range(x.size)]))
        assert np.array_equal(np.roll(x, shift), s)
    all3 = jax.jit(lambda v, k: augment.augment(v, k, ("gain", "noise", "shift")))
    np.testing.assert_array_equal(all3(x, key), all3(x, key))
    assert not np.allclose(all3(x, key), all3(x, jax.random.key(4)))
    assert np.all(np.isfinite(augment.augment(np.zeros(64, np.float32), key, ("noise", "gain"))))  # silence
    with pytest.raises(ValueError, match="unknown augmentations"):
        augment.augment(x, key, ("pitch",))
