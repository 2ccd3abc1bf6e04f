"""mgc_jax.data.mel: Slaney's mel scale, its unit-area triangles (the MFCC baseline) and the band means of the nets'
front end (ModelConfig.stft_bands)."""
from __future__ import annotations

import numpy as np
import pytest

from mgc_jax.data import mel

BINS, SR = 513, 22050


def test_mel_filterbank_triangles_of_unit_area():
    fb = mel.mel_filterbank(BINS, SR, 40)
    assert fb.shape == (BINS, 40) and (fb >= 0).all()
    hz_per_bin = SR / 2 / (BINS - 1)
    # Slaney normalisation: each triangle integrates to 1 over Hz; the sampled sum matches to the
    # rounding of sampling a triangle only ~2-40 bins wide (widest error for the narrow low bands).
    np.testing.assert_allclose(fb.sum(axis=0) * hz_per_bin, 1.0, rtol=0.15)
    centres = mel.mel_to_hz(np.linspace(0, mel.hz_to_mel(SR / 2), 42))[1:-1]
    assert np.all(np.diff(fb.argmax(axis=0)) >= 0)  # ordered by frequency
    np.testing.assert_allclose(fb.argmax(axis=0) * hz_per_bin, centres, atol=hz_per_bin)


def test_mel_scale_round_trip_and_break_at_1khz():
    f = np.array([0.0, 200.0, 999.0, 1000.0, 4000.0, 11025.0])
    np.testing.assert_allclose(mel.mel_to_hz(mel.hz_to_mel(f)), f, atol=1e-9)
    np.testing.assert_allclose(mel.hz_to_mel(np.array([1000.0])), 15.0)  # 1000 / (200/3)


def test_band_means_average_each_band():
    w = mel.band_means(BINS, 96, SR)
    assert w.shape == (BINS, 96) and w.dtype == np.float32 and (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=1e-6)
    # A constant map stays that constant (bands of a standardised map keep its units) ...
    np.testing.assert_allclose(np.full((3, BINS), 2.5, np.float32) @ w, 2.5, rtol=1e-6)
    # ... and each band is mel_filterbank's triangle: zero outside it, peaking at the same bin.
    fb = mel.mel_filterbank(BINS, SR, 96)
    np.testing.assert_array_equal(w > 0, fb > 0)
    np.testing.assert_array_equal(w.argmax(axis=0), fb.argmax(axis=0))
    assert not w.flags.writeable


def test_band_means_refuse_bands_narrower_than_a_bin():
    with pytest.raises(ValueError, match="covers no bin"):
        mel.band_means(17, 64, SR)
