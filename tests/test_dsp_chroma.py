"""dsp.chroma: the MIRToolbox chromagram against closed-form cases, the float64 oracle and its invariants."""
from __future__ import annotations

import chroma_reference as ref
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from dsp.chroma import (
    chroma_plan,
    chromagram,
    chromagram_from_spectrum,
    frame_extrema,
    signal_chromagram,
)
from dsp.config import ConfigError, FeatureConfig
from dsp.framing import frame, hamming_window

FS = 22050
KEY_LW = 132300  # 6 s key window
SCALES = ("db20", "linear")


def midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69) / 12)


def tones(midis, n: int, *, seed: int = 0) -> np.ndarray:
    """Equal sines at the given MIDI pitches with random phases, float32 [n], peak <= 1."""
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(midis))
    t = np.arange(n) / FS
    x = sum(np.sin(2 * np.pi * midi_hz(m) * t + p) for m, p in zip(midis, phases))
    return (x / len(midis)).astype(np.float32)


# --- static plan: the band rules of docs/features.md §1.7 (iv), §1.8 ------------------------------------------


def test_plan_of_1024_sample_frames_raises_min_to_426_hz():
    db, lin = chroma_plan(1024, FS, "db20"), chroma_plan(1024, FS, "linear")
    assert db.n_fft == lin.n_fft == 1024
    assert db.min_hz == pytest.approx(426.03, abs=0.01)  # 'OctaveRatio': fs / (1024 · 0.85 (2^(1/12) − 1))
    assert (db.band_start, db.band_stop, db.chroma_stop) == (20, 299, 161)  # 1.6.2: band ends at bin 298
    assert (lin.band_start, lin.band_stop, lin.chroma_stop) == (20, 298, 161)  # HEAD: band ends at bin 297
    assert db.chroma_range == (9, 45) and db.weights.shape == (141, 12)


def test_plan_of_6_s_windows_keeps_five_octaves_from_100_hz():
    db, lin = chroma_plan(KEY_LW, FS, "db20"), chroma_plan(KEY_LW, FS, "linear")
    assert db.n_fft == 262144 and db.min_hz == 100.0
    assert (db.band_start, db.band_stop, db.chroma_stop) == (1189, 76089, 38049)
    assert (lin.band_start, lin.band_stop, lin.chroma_stop) == (1189, 76088, 38049)
    assert db.chroma_range == (-17, 43)


def test_plan_weights_are_band_means():
    plan = chroma_plan(KEY_LW, FS, "db20")
    # Each absolute chroma contributes weights summing to 1 (1/2 for the two halved end chromas); 61 chromas.
    lo, hi = plan.chroma_range
    np.testing.assert_allclose(plan.weights.sum(), (hi - lo + 1) - 1, rtol=1e-5)  # float32 weights of ~1e-4
    assert (plan.weights >= 0).all()


def test_frames_too_short_for_a_band_raise():
    with pytest.raises(ConfigError, match="rfft bins in the chroma band"):
        chromagram(jnp.zeros((2, 32)), FeatureConfig())


# --- closed-form cases -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("length", [1024, KEY_LW])
def test_single_tone_peaks_at_its_pitch_class(scale, length):
    cfg = FeatureConfig(chroma_scale=scale)
    for m in (69, 74, 80):  # A5, D5, G#5: inside both bands (the 1024 band starts at 426 Hz)
        c = np.asarray(chromagram(tones([m], length), cfg))
        assert c.shape == (12,) and c.dtype == np.float32
        assert int(c.argmax()) == m % 12
        assert c.max() == pytest.approx(1.0, abs=1e-5)  # max-normalised with + 1e-6


@pytest.mark.parametrize("scale", SCALES)
def test_c_major_triad_gives_c_e_g(scale):
    c = np.asarray(chromagram(tones([72, 76, 79], KEY_LW), FeatureConfig(chroma_scale=scale)))
    assert set(np.argsort(c)[-3:]) == {0, 4, 7}
    assert np.sort(c)[-4] < 0.2 * np.sort(c)[-3]


@pytest.mark.parametrize("scale", SCALES)
def test_constant_frames_give_zero_chroma_and_clipping_stays_finite(scale):
    cfg = FeatureConfig(chroma_scale=scale)
    frames = np.zeros((4, 1024), np.float32)
    frames[1] = 0.7  # DC
    frames[2] = -1.0
    frames[3] = np.clip(8 * tones([69, 73], 1024), -1, 1)  # full-scale clipped
    c = np.asarray(chromagram(frames, cfg))
    assert np.isfinite(c).all()
    assert not c[:3].any()  # NormalInput is 0 / 0 there (NaN in MIRToolbox): decision D8, 0
    assert c[3].max() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("scale", SCALES)
def test_normal_input_makes_chroma_invariant_to_gain_and_offset(scale):
    cfg = FeatureConfig(chroma_scale=scale)
    x = np.random.default_rng(3).standard_normal((5, 1024)).astype(np.float32)
    base = np.asarray(chromagram(x, cfg))
    moved = np.asarray(chromagram(0.01 * x + 0.5, cfg))
    # Float32: the offset adds 0.5 · Ŵ in the FFT and removes it again; ~1e-6 of the band's magnitude.
    np.testing.assert_allclose(moved, base, atol=2e-5)


# --- reference: the float64 oracle (tests/support/chroma_reference.py) ----------------------------------------------


def _check_against_oracle(frames: np.ndarray, scale: str):
    got = np.asarray(chromagram(frames, FeatureConfig(chroma_scale=scale)))
    want = np.stack([ref.chromagram(f, FS, scale) for f in frames])
    # docs/features.md §1.7 test tolerance for the chroma: float32 FFT and band sums (measured ~1e-6).
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("scale", SCALES)
def test_matches_oracle_on_random_and_tonal_frames(scale):
    rng = np.random.default_rng(0)
    frames = np.concatenate([
        rng.standard_normal((6, 1024)),
        rng.uniform(-1, 1, (2, 1024)) + 3.0,  # large DC offset under NormalInput
        np.stack([tones([60 + k, 67 + k], 1024, seed=k) for k in range(4)]),
    ]).astype(np.float32)
    _check_against_oracle(frames, scale)
    _check_against_oracle(np.stack([tones([57, 64, 72], KEY_LW), 0.1 * rng.standard_normal(KEY_LW)])
                          .astype(np.float32), scale)


@pytest.mark.parametrize("scale", SCALES)
def test_matches_oracle_on_real_gtzan_frames(scale, gtzan_dev_clips):
    x, fs = sf.read(gtzan_dev_clips[0], dtype="float32")
    assert fs == FS
    frames = np.asarray(frame(x, FeatureConfig()))[::97]  # 14 frames spread over the clip
    _check_against_oracle(frames, scale)
    _check_against_oracle(x[None, 3 * FS : 3 * FS + KEY_LW], scale)


def test_chroma_from_the_stft_spectrum_equals_chromagram():
    """The music-feature path reuses the raw-frame rfft; it must give the chromagram of the frames."""
    cfg = FeatureConfig()
    frames = np.random.default_rng(5).standard_normal((7, 1024)).astype(np.float32) + 0.2
    spectrum = np.fft.rfft(frames.astype(np.float64) * np.asarray(hamming_window(1024), np.float64))
    got = np.asarray(chromagram_from_spectrum(spectrum.astype(np.complex64), frames.min(-1), frames.max(-1), cfg,
                                              frame_length=1024))
    # Same formula from a float64 spectrum rounded to complex64: float32 band sums.
    np.testing.assert_allclose(got, np.asarray(chromagram(frames, cfg)), atol=2e-6)
    with pytest.raises(ConfigError, match="needs the 513 bins of a 1024-point rfft"):
        chromagram_from_spectrum(spectrum[:, :300], frames.min(-1), frames.max(-1), cfg, frame_length=1024)


@pytest.mark.parametrize("length, hop, n", [(1024, 512, 9000), (1000, 300, 5000), (700, 700, 700), (64, 16, 1000)])
def test_frame_extrema_equal_the_frames_min_and_max(length, hop, n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    frames = np.asarray(frame(x, FeatureConfig(frame_length=length, hop_length=hop)))
    lo, hi = frame_extrema(x, frame_length=length, hop_length=hop, n_frames=len(frames))
    np.testing.assert_array_equal(np.asarray(lo), frames.min(-1))  # a min / max of the same samples: exact
    np.testing.assert_array_equal(np.asarray(hi), frames.max(-1))


@pytest.mark.parametrize("scale", SCALES)
def test_signal_chromagram_equals_chromagram_of_the_frames(scale):
    cfg = FeatureConfig(chroma_scale=scale)
    x = np.random.default_rng(6).standard_normal(12 * 512).astype(np.float32) + tones([71, 74], 12 * 512)
    got = np.asarray(signal_chromagram(x, cfg, frame_length=1024, hop_length=512))
    want = np.asarray(chromagram(frame(x, cfg), cfg))
    assert got.shape == (11, 12)
    np.testing.assert_allclose(got, want, atol=1e-6)  # same ops, fused differently: float32 ulps of values <= 1


# --- transform invariants ----------------------------------------------------------------------------------

