"""Hostile input to the dsp kernels, through dsp.signal.as_signal: lists, integer PCM, bool / complex,
non-finite samples, extreme scale.

Each case either gives a one-line `dsp.SignalError` naming the kernel, or the documented result (dsp/signal.py):
lists are converted before tracing; integer PCM is scaled as soundfile reads it; under jit a non-finite sample
reads as 0 and the music map marks its frames undefined; a signal x 1e20 or x 1e-20 keeps its features.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dsp

CFG = dsp.FeatureConfig()
FS = CFG.sample_rate
COL = {name: i for i, name in enumerate(dsp.FEATURE_NAMES)}


def _music(seconds: float = 7.0, seed: int = 0) -> np.ndarray:
    """A C major chord over noise, float32 [seconds * FS], peak ~0.45 (two key windows from 9 s on)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0, 523.3))
    return (0.1 * chord + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


# Every public entry point that takes samples, as a function of a signal [n].
SIGNAL_KERNELS = {
    "music_features": lambda x: dsp.music_features(x, CFG),
    "music_features_with_nan_counts": lambda x: dsp.music_features_with_nan_counts(x, CFG),
    "stft_features": lambda x: dsp.stft_features(x, CFG),
    "feature_maps": lambda x: dsp.feature_maps(x, CFG),
    "stft_magnitude": lambda x: dsp.stft_magnitude(x, CFG),
    "frame": lambda x: dsp.frame(x, CFG),
    "rms": lambda x: dsp.rms(x),
    "zero_crossing_rate": lambda x: dsp.zero_crossing_rate(x, sample_rate=FS),
    "windowed_rfft": lambda x: dsp.windowed_rfft(x[:1024], n_fft=1024),
    "magnitude_spectrum": lambda x: dsp.magnitude_spectrum(x[:1024], n_fft=1024),
    "chromagram": lambda x: dsp.chromagram(x[:1024], CFG),
    "signal_chromagram": lambda x: dsp.signal_chromagram(x, CFG, frame_length=1024, hop_length=512),
    "key_clarity": lambda x: dsp.key_clarity(x, CFG),
    "hcdf": lambda x: dsp.hcdf(x, CFG),
}
# Entry points that take spectra / strengths (no PCM scaling, same refusals).
VALUE_KERNELS = {
    "roughness": lambda s: dsp.roughness(s, CFG),
    "spectral_peaks": lambda s: dsp.spectral_peaks(s),
    "brightness": lambda s: dsp.brightness(s, sample_rate=FS, n_fft=CFG.n_fft, cutoff_hz=1500.0),
    "spectral_flatness": dsp.spectral_flatness,
    "spectral_entropy": dsp.spectral_entropy,
    "key_strengths": dsp.key_strengths,  # these two get 12 columns as a chroma
    "tonal_centroid": dsp.tonal_centroid,
}


def _value_input(name: str) -> np.ndarray:
    spec = np.asarray(dsp.stft_magnitude(_music(3000 / FS), CFG))
    return spec[:, :12].copy() if name in ("key_strengths", "tonal_centroid") else spec.copy()


def _close(a, b, rtol=0.0, atol=0.0):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


def test_a_list_of_3000_floats_is_converted_before_tracing():
    # Was: traced as 3,000 scalar arguments, 3 min of compiling and 7.3 GB. Now one array argument, and the
    # jitted function is traced once for the list and the array alike (same cache entry).
    x = _music(3000 / FS)
    got = dsp.music_features(x.tolist(), CFG)
    _close(got, dsp.music_features(jnp.asarray(x), CFG))
    _close(dsp.stft_features(tuple(x.tolist()), CFG), dsp.stft_features(x, CFG))


@pytest.mark.parametrize("name", sorted(SIGNAL_KERNELS))
def test_every_signal_kernel_takes_a_list(name):
    x = _music(2500 / FS)
    _close(SIGNAL_KERNELS[name](x.tolist()), SIGNAL_KERNELS[name](x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(VALUE_KERNELS))
def test_every_spectrum_kernel_takes_a_list(name):
    spec = _value_input(name)
    _close(VALUE_KERNELS[name](spec.tolist()), VALUE_KERNELS[name](spec), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype,offset,divisor", [
    (np.int16, 0, 2.0**15), (np.int32, 0, 2.0**31), (np.int8, 0, 2.0**7), (np.uint8, 128, 2.0**7)])
def test_integer_pcm_is_scaled_as_soundfile_reads_it(dtype, offset, divisor):
    info = np.iinfo(dtype)
    x = _music(3000 / FS)
    pcm = np.clip(np.round(x * divisor + offset), info.min, info.max).astype(dtype)
    expected = (pcm.astype(np.float64) - offset) / divisor
    np.testing.assert_array_equal(np.asarray(dsp.as_signal(pcm, name="t")), expected.astype(np.float32))
    # Was: raw integer units (int16 roughness 8.2e10). Now the features of the float signal.
    _close(dsp.music_features(pcm, CFG), dsp.music_features(expected.astype(np.float32), CFG))


def test_soundfile_agrees_on_the_pcm_scaling(tmp_path):
    sf = pytest.importorskip("soundfile")
    pcm = (np.arange(-300, 300, dtype=np.int16) * 97)
    path = tmp_path / "a.wav"
    sf.write(path, pcm, FS, subtype="PCM_16")
    np.testing.assert_array_equal(np.asarray(dsp.as_signal(pcm, name="t")), sf.read(path, dtype="float32")[0])
    u8 = np.arange(256, dtype=np.uint8)
    sf.write(tmp_path / "b.wav", (u8.astype(np.int16) - 128) * 256, FS, subtype="PCM_U8")
    np.testing.assert_array_equal(np.asarray(dsp.as_signal(u8, name="t")), sf.read(tmp_path / "b.wav",
                                                                                  dtype="float32")[0])


REFUSED = {
    "bool": (np.ones(3000, bool), "bool samples"),
    "complex": (np.ones(3000, np.complex64), "complex samples"),
    "int64": (np.ones(3000, np.int64), "not a PCM format"),
    "nan": (np.where(np.arange(3000) == 1000, np.nan, 0.1).astype(np.float32), r"1 non-finite samples \(1 NaN"),
    "inf": (np.where(np.arange(3000) == 7, np.inf, 0.1).astype(np.float32), r"\(0 NaN, 1 Inf; first at flat index 7"),
    "float64 beyond float32": (np.full(3000, 1e300), "beyond float32's range"),
    "ragged list": ([[0.1, 0.2]] + [0.1] * 2999, "not a rectangular array"),
    "strings": (["a"] * 3000, "expected numbers"),
    "empty": (np.zeros(0, np.float32), r"0 samples \(shape \(0,\)\); a signal or frame needs at least one"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("name", sorted(SIGNAL_KERNELS))
def test_every_signal_kernel_refuses_with_one_line(case, name):
    x, message = REFUSED[case]
    with pytest.raises(dsp.SignalError, match=message) as info:
        SIGNAL_KERNELS[name](x if isinstance(x, list) else (jnp.asarray(x) if case in ("nan", "bool") else x))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{name}: "), message


@pytest.mark.parametrize("name", sorted(VALUE_KERNELS))
def test_every_spectrum_kernel_refuses_non_finite_and_complex(name):
    spec = _value_input(name)
    spec[2, 5] = np.nan
    with pytest.raises(dsp.SignalError, match="non-finite"):
        VALUE_KERNELS[name](spec)
    with pytest.raises(dsp.SignalError, match="complex"):
        VALUE_KERNELS[name](spec.astype(np.complex64))


def test_non_finite_samples_under_jit_mark_their_frames_and_nothing_else():
    x = _music(10.0)
    bad = x.copy()
    bad[1000] = np.nan  # frames 0 and 1 hold sample 1000 (frame t covers [512 t, 512 t + 1024))
    bad[60000] = np.inf  # frames 116 and 117
    marked = [0, 1, 116, 117]
    music_counts = jax.jit(dsp.music_features_with_nan_counts, static_argnames="cfg")
    (music, counts), (ref, ref_counts) = music_counts(bad, CFG), music_counts(np.where(np.isfinite(bad), bad, 0), CFG)
    stft = jax.jit(dsp.stft_features, static_argnames="cfg")(bad, CFG)
    assert bool(jnp.all(jnp.isfinite(music))) and bool(jnp.all(jnp.isfinite(stft)))
    assert not np.any(np.asarray(music)[marked]) and not np.any(np.asarray(stft)[marked])
    keep = np.setdiff1d(np.arange(music.shape[0]), marked)
    # Elsewhere: the features of the signal with those samples at 0 (was: key clarity / roughness zeroed on every
    # frame by one NaN / Inf, NaN STFT rows).
    _close(np.asarray(music)[keep], np.asarray(ref)[keep])
    assert np.all(np.asarray(music)[keep][:, COL["key_clarity"]] > 0)
    assert np.count_nonzero(np.asarray(music)[keep][:, COL["roughness"]]) > 0.9 * keep.size
    # Marked frames count as undefined in every column, on top of what the clean signal leaves undefined.
    assert np.all(np.asarray(counts) >= len(marked))
    assert np.all(np.asarray(counts) <= np.asarray(ref_counts) + len(marked))


@pytest.mark.parametrize("factor", [1e20, 1e-20])
def test_a_signal_times_1e20_or_1e_minus_20_keeps_its_features(factor):
    # Was: x 1e20 gave all-zero rms, roughness, key clarity and HCDF (squares overflowed float32).
    x = _music(10.0)
    y = (x.astype(np.float64) * factor).astype(np.float32)
    got, ref = dsp.feature_maps(y, CFG), dsp.feature_maps(x, CFG)
    got, got_counts, stft = got["music"], got["music_nan_counts"], got["stft"]
    ref, ref_stft = ref["music"], ref["stft"]
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    # x 1e20 is rounded to float32 sample by sample: relative 6e-8 per sample, ~1e-6 on the features.
    for name, k in {"rms": 1, "zcr": 0, "brightness": 0, "flatness": 0, "entropy": 0, "key_clarity": 0,
                    "hcdf": 0}.items():
        np.testing.assert_allclose(got[:, COL[name]], ref[:, COL[name]] * factor**k, rtol=2e-5,
                                   atol=2e-5 * np.abs(ref[:, COL[name]]).max() * factor**k, err_msg=name)
    np.testing.assert_allclose(np.asarray(stft, np.float64), np.asarray(ref_stft, np.float64) * factor, rtol=1e-4,
                               atol=1e-5 * float(np.max(ref_stft)) * factor)
    assert np.all(np.asarray(got_counts)[[COL["rms"], COL["key_clarity"], COL["hcdf"]]] == 0)
    r = ref[:, COL["roughness"]]
    if factor > 1:
        # Documented float32 limit: roughness scales as peak², 1e40 x ~1e3 is beyond 3.4e38: undefined, counted.
        assert np.all(got[:, COL["roughness"]] == 0) and got_counts[COL["roughness"]] == got.shape[0]
    else:
        # 1e-40 x roughness is below float32's normal range (XLA flushes subnormals): the same limit, other end.
        assert np.all(np.isfinite(got[:, COL["roughness"]]))


@pytest.mark.parametrize("factor", [1e15, 1e-15])
def test_roughness_scales_as_the_square_of_the_signal_within_float32s_range(factor):
    x = _music(3.0)
    y = (x.astype(np.float64) * factor).astype(np.float32)
    got = np.asarray(dsp.music_features(y, CFG), np.float64)[:, COL["roughness"]]
    ref = np.asarray(dsp.music_features(x, CFG), np.float64)[:, COL["roughness"]]
    assert np.count_nonzero(ref) > 0.9 * ref.size
    np.testing.assert_allclose(got, ref * factor**2, rtol=1e-4, atol=1e-6 * ref.max() * factor**2)


def test_the_kernels_alone_are_scale_safe():
    x = _music(7.0)
    y = jnp.asarray((x.astype(np.float64) * 1e20).astype(np.float32))
    frames = dsp.frame(y, CFG)
    np.testing.assert_allclose(dsp.rms(frames), dsp.rms(dsp.frame(x, CFG)) * 1e20, rtol=2e-5)
    np.testing.assert_allclose(dsp.key_clarity(y, CFG), dsp.key_clarity(x, CFG), rtol=2e-5)
    np.testing.assert_allclose(dsp.hcdf(y, CFG), dsp.hcdf(x, CFG), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(dsp.chromagram(frames[:4], CFG), dsp.chromagram(dsp.frame(x, CFG)[:4], CFG),
                               rtol=2e-5, atol=1e-6)
    spec = dsp.stft_magnitude(x, CFG)
    np.testing.assert_allclose(dsp.roughness(spec * 1e12, CFG), dsp.roughness(spec, CFG) * 1e24, rtol=1e-4,
                               atol=1e-6 * float(jnp.max(dsp.roughness(spec, CFG))) * 1e24)
    np.testing.assert_allclose(dsp.roughness(spec * 1e-12, CFG), dsp.roughness(spec, CFG) * 1e-24, rtol=1e-4,
                               atol=1e-6 * float(jnp.max(dsp.roughness(spec, CFG))) * 1e-24)
