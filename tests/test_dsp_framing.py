"""dsp.framing: frames, the symmetric Hamming window and the magnitude STFT against their definitions and scipy/numpy."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsp.config import ConfigError, FeatureConfig, n_frames
from dsp.framing import frame, hamming_window, stft_magnitude

CFG = FeatureConfig()
FS, L, H, N_FFT = CFG.sample_rate, CFG.frame_length, CFG.hop_length, CFG.n_fft


def _frames_np(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Float64 reference framing: frame t = x[t hop : t hop + length], no padding."""
    return np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), length)[::hop]


def _assert_within(got, want, bound):
    """|got - want| <= bound elementwise (bound broadcasts), reporting the worst excess."""
    excess = np.abs(np.asarray(got, np.float64) - want) - bound
    assert np.all(excess <= 0), f"{np.sum(excess > 0)} entries out of bound, worst by {excess.max():.3g}"


# --- closed-form cases -------------------------------------------------------------------------------------


def test_hamming_is_symmetric_with_matlab_end_taps():
    w = np.asarray(hamming_window(L))
    assert w.dtype == np.float32 and w.shape == (L,)
    np.testing.assert_array_equal(w, w[::-1])
    # float32 rounding of 0.08 and of the cosine near the centre.
    np.testing.assert_allclose([w[0], w[-1]], [0.08, 0.08], rtol=1e-7)
    np.testing.assert_allclose(w[L // 2 - 1 : L // 2 + 1].max(), 1.0, atol=1e-5)  # even L: the peak is between taps


@pytest.mark.parametrize("n, length, hop", [(661794, 1024, 512), (5000, 1024, 512), (1024, 1024, 512),
                                            (5000, 1000, 300), (3000, 256, 256), (700, 7, 3)])
def test_frame_is_the_sliding_window_without_padding(n, length, hop):
    cfg = FeatureConfig(frame_length=length, hop_length=hop)
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    got = np.asarray(frame(x, cfg))
    want = _frames_np(x, length, hop)[: n_frames(n, cfg)]
    assert got.shape == (1 + (n - length) // hop, length)
    np.testing.assert_array_equal(got, want)  # pure data movement: exact


def test_gtzan_track_has_1291_frames():
    assert frame(jnp.zeros(661794), CFG).shape == (1291, L)


@pytest.mark.parametrize("n", [0, 1, L - 1])
def test_short_signal_raises_naming_sizes(n):
    # An empty signal is refused before framing, as empty: "0 samples (shape (0,)); ... at least one".
    with pytest.raises(ConfigError, match=rf"{n} samples.*{L} samples" if n else r"0 samples \(shape \(0,\)\)"):
        frame(jnp.zeros(n), CFG)
    with pytest.raises(ConfigError, match=rf"{n} samples"):
        stft_magnitude(jnp.zeros(n), CFG)


def test_window_length_must_be_static():
    with pytest.raises(ConfigError, match="static"):
        jax.jit(lambda n: hamming_window(n))(4)


def test_bin_sine_peaks_at_its_bin_with_closed_form_height():
    k0 = 93  # a bin-centred sine: its peak is the window sum / 2 times the amplitude
    x = np.sin(2 * np.pi * k0 * np.arange(4 * L) / N_FFT).astype(np.float32)
    spec = np.asarray(stft_magnitude(x, CFG))
    assert spec.shape == (n_frames(4 * L, CFG), CFG.n_bins) and spec.dtype == np.float32
    assert np.all(spec.argmax(-1) == k0)
    w = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(L) / (L - 1))
    # The mirror image at -k0 leaks ~1e-5 into bin k0 through the Hamming sidelobes; float32 FFT adds ~1e-6.
    np.testing.assert_allclose(spec[:, k0], w.sum() / 2, rtol=1e-4)


def test_silence_and_dc_spectra():
    assert not np.asarray(stft_magnitude(jnp.zeros(3 * L), CFG)).any()
    dc = np.asarray(stft_magnitude(jnp.full(3 * L, 0.5), CFG))
    w = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(L) / (L - 1))
    np.testing.assert_allclose(dc[:, 0], 0.5 * w.sum(), rtol=1e-6)  # float32 sum of 1024 taps


# --- references --------------------------------------------------------------------------------------------


def test_window_equals_scipy_symmetric_hamming():
    signal = pytest.importorskip("scipy.signal")
    for length in (2, 3, 1024, 1000):
        # One float32 rounding of the float64 taps.
        np.testing.assert_allclose(hamming_window(length), signal.windows.hamming(length, sym=True), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("n, length, hop", [(22050, 1024, 512), (9000, 1000, 300)])
def test_stft_equals_scipy_window_and_numpy_rfft(n, length, hop):
    signal = pytest.importorskip("scipy.signal")
    cfg = FeatureConfig(frame_length=length, hop_length=hop)
    x = np.random.default_rng(0).uniform(-1, 1, n).astype(np.float32)
    frames = _frames_np(x, length, hop)
    want = np.abs(np.fft.rfft(frames * signal.windows.hamming(length, sym=True), n=cfg.n_fft, axis=-1))
    got = np.asarray(stft_magnitude(x, cfg))
    assert got.shape == want.shape
    # docs/features.md §2: 1e-5. float32 FFT error is absolute (~1e-7 of the frame's largest bin), so scale by it.
    _assert_within(got, want, 1e-5 * want.max(-1, keepdims=True))


# --- transform invariants ----------------------------------------------------------------------------------

