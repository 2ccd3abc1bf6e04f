"""Property-based tests (hypothesis) of the dsp kernels on random finite signals.

Signals are drawn as (family, length, seed, amplitude) and synthesised with NumPy, so an example is cheap to
draw and to shrink. Lengths are fixed (one frame; 21 frames; 3 s, which is not a whole number of hops) so that
each jitted kernel bundle compiles three times in all, not once per example.

Properties: finite outputs with the documented shapes and ranges over the whole amplitude range the audio reader
accepts (up to `mgc_jax.data.audio.MAX_ABS_SAMPLE`); scale laws (rms and the STFT are linear in |a|, roughness
quadratic, every other kernel scale-free), exact for power-of-two gains and within float32 rounding for others;
invariance under a sign flip; silent frames give zeros.

Not tested, because untrue by definition:
- Sign-flip invariance of key clarity and HCDF. NormalInput maps a frame u to (u - min) / (max - min), so -u
  becomes 1 - (normalised u), whose windowed spectrum adds the Hamming window's own spectrum to the chroma band
  (MIRToolbox does the same). Measured: key clarity moves by up to 0.48 on sparse impulses, HCDF by up to 1.
- Offset invariance of key clarity and HCDF holds in exact arithmetic (NormalInput removes the offset), but in
  float32 the error grows like |offset| / (frame max - frame min) (cancellation): no uniform tolerance exists.
  tests/test_dsp_chroma.py checks it on the chromagram at moderate offsets.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import dsp
from dsp.chroma import chroma_plan, signal_chromagram

CFG = dsp.FeatureConfig()
FS = CFG.sample_rate
LENGTHS = (1024, 11_264, 66_150)  # T = 1, 21, 128 frames (66,150 = 3 s: 102 samples past the last frame)
FAMILIES = ("noise", "tones", "bursts", "clipped", "impulses", "offset")
FRAME_KERNELS = ("rms", "zcr", "brightness", "flatness", "entropy", "roughness", "hcdf")
PROPERTY = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def synthesise(family: str, n: int, seed: int) -> np.ndarray:
    """float32 [n] with peak |x| = 1 (or all zeros never: every family has a non-zero sample)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    if family == "noise":
        x = rng.standard_normal(n)
    elif family == "tones":
        x = sum(rng.uniform(0.2, 1) * np.sin(2 * np.pi * rng.uniform(50, 10_000) * t + rng.uniform(0, 2 * np.pi))
                for _ in range(rng.integers(1, 6)))
    elif family == "bursts":  # noise gated on and off in blocks of 256 samples: exact digital silence between
        gate = (rng.random(n // 256 + 1) < 0.5).repeat(256)[:n]
        gate[rng.integers(n)] = True
        x = rng.standard_normal(n) * gate
    elif family == "clipped":
        x = np.clip(rng.uniform(2, 50) * np.sin(2 * np.pi * rng.uniform(50, 2000) * t), -1, 1)
    elif family == "impulses":  # mostly exact zeros
        x = np.zeros(n)
        where = rng.choice(n, size=max(1, n // 500), replace=False)
        x[where] = rng.choice([-1, 1], where.size) * rng.uniform(0.1, 1, where.size)
    else:  # "offset": a tone on a DC offset of either sign
        x = 0.3 * np.sin(2 * np.pi * rng.uniform(50, 5000) * t) + rng.uniform(-1, 1)
    return (x / np.abs(x).max()).astype(np.float32)


signals = st.builds(synthesise, st.sampled_from(FAMILIES), st.sampled_from(LENGTHS), st.integers(0, 2**32 - 1))


def _all_kernels(x):
    frames = dsp.frame(x, CFG)
    spec = dsp.stft_magnitude(x, CFG)
    music, counts = dsp.music_features_with_nan_counts(x, CFG)
    return {
        "rms": dsp.rms(frames), "zcr": dsp.zero_crossing_rate(frames, sample_rate=FS),
        "brightness": dsp.brightness(spec, sample_rate=FS, n_fft=CFG.n_fft, cutoff_hz=CFG.brightness_cutoff_hz),
        "flatness": dsp.spectral_flatness(spec), "entropy": dsp.spectral_entropy(spec), "stft": spec,
        "roughness": dsp.roughness(spec, CFG), "key_clarity": dsp.key_clarity(x, CFG), "hcdf": dsp.hcdf(x, CFG),
        "music": music, "counts": counts,
        # the chromagram key clarity is computed from (one window of all n <= 6 s samples here)
        "key_chroma": signal_chromagram(x, CFG, frame_length=min(x.shape[-1], CFG.key_window_length),
                                        hop_length=CFG.key_hop_length),
    }


@functools.lru_cache(maxsize=None)
def _jitted():
    return jax.jit(_all_kernels)  # one compilation per signal length


def kernels(x: np.ndarray) -> dict[str, np.ndarray]:
    return jax.device_get(_jitted()(jnp.asarray(x, jnp.float32)))


def scaled(x: np.ndarray, a: float) -> np.ndarray:
    return (np.float32(a) * x).astype(np.float32)


# ------------------------------------------------------------------------------------------- finiteness


@PROPERTY
@given(x=signals, log_amp=st.floats(-30.0, 6.0))
def test_finite_outputs_with_documented_shapes_and_ranges(x, log_amp):
    """Any amplitude from 1e-30 to the reader's 1e6 limit: finite, shaped and in range (no NaN in any map)."""
    out = kernels(scaled(x, 10.0 ** log_amp))
    n = x.size
    t = 1 + (n - CFG.frame_length) // CFG.hop_length
    for name in FRAME_KERNELS:
        assert out[name].shape == (t,), name
    assert out["stft"].shape == (t, CFG.n_bins) and out["music"].shape == (t, 8)
    assert out["key_clarity"].shape == (dsp.n_key_windows(n, CFG),)
    for name, v in out.items():
        assert np.isfinite(v).all(), name
    assert (out["rms"] >= 0).all() and (out["stft"] >= 0).all() and (out["roughness"] >= 0).all()
    assert ((out["zcr"] >= 0) & (out["zcr"] <= FS / 2)).all()
    for name in ("brightness", "flatness", "entropy"):
        # [0, 1] up to the last ulp or two of the two float32 means of flatness on a flat spectrum (one impulse).
        assert ((out[name] >= 0) & (out[name] <= 1 + 1e-6)).all(), (name, out[name].min(), out[name].max())
    assert (np.abs(out["key_clarity"]) <= 1).all()
    assert (out["hcdf"] >= 0).all() and out["hcdf"][0] == 0
    assert ((out["counts"] >= 0) & (out["counts"] <= t)).all()


# ------------------------------------------------------------------------------------------- scale laws


def _band_fraction(power: np.ndarray, length: int) -> np.ndarray:
    """Share of a frame's spectral energy in the chroma band of `length`-sample frames: float64 [...]."""
    plan = chroma_plan(length, FS, CFG.chroma_scale)
    power = np.asarray(power, np.float64)
    return power[..., plan.band_start : plan.chroma_stop].sum(-1) / np.maximum(power.sum(-1), 1e-300)


def _well_conditioned(x: np.ndarray, out: dict) -> tuple[np.ndarray, bool]:
    """(HCDF frames, key window) whose chroma a rounding-level change of the samples moves only by rounding.

    A gain rounds every sample (a relative change of ~6e-8), and the chroma is built from the chroma band alone
    (426-3445 Hz for 1024-sample frames). When the band holds less than 1e-4 of a frame's energy (a bass tone
    alone) the chroma is window leakage and FFT rounding noise, and that change moves HCDF by up to 3e-4, in
    float64 too: the feature is ill-conditioned there, not the kernel. Key clarity, a Pearson correlation of
    the centred chroma, is also ill-conditioned when the chroma is nearly flat (spread < 1% of its maximum, e.g.
    a single impulse): the centring leaves rounding noise to correlate.
    """
    frame_ok = _band_fraction(np.square(out["stft"]), CFG.frame_length) >= 1e-4
    hcdf_ok = frame_ok & np.concatenate([[True], frame_ok[:-1]])  # HCDF[t] compares frames t - 1 and t
    length = min(x.size, CFG.key_window_length)
    plan = chroma_plan(length, FS, CFG.chroma_scale)
    window = np.hamming(length)  # symmetric, as dsp's
    power = np.abs(np.fft.rfft(x[:length].astype(np.float64) * window, plan.n_fft)) ** 2
    chroma = out["key_chroma"][0]
    key_ok = bool(_band_fraction(power, length) >= 1e-4 and np.ptp(chroma) >= 1e-2 * chroma.max())
    return hcdf_ok, key_ok


def _assert_scale_laws(x: np.ndarray, r0: dict, r1: dict, a: float) -> None:
    """r1 = kernels(a x) against r0 = kernels(x), within float32 rounding (tolerances below)."""
    g = abs(a)
    # rms: a float32 sum of 1024 squares and a square root, rounded differently after scaling; 1e-5 relative is
    # ~10x the pairwise-summation bound (log2(1024) half-ulps).
    np.testing.assert_allclose(r1["rms"], g * r0["rms"], rtol=1e-5, atol=0)
    # STFT: a bin's rounding error is absolute (~ulp of the frame's energy), so small bins are compared with an
    # absolute floor of 2e-6 of the largest bin (measured: 4e-7).
    np.testing.assert_allclose(r1["stft"], g * r0["stft"], rtol=1e-5, atol=2e-6 * g * r0["stft"].max())
    np.testing.assert_array_equal(r1["zcr"], r0["zcr"])  # signs unchanged: the same count, exactly
    # Ratios of float32 sums of 513 bins: ~1e-6 relative each (measured 4e-7).
    np.testing.assert_allclose(r1["brightness"], r0["brightness"], rtol=0, atol=2e-6)
    # Flatness: every bin X_k carries an absolute FFT rounding error of about an ulp of the frame's largest bin M,
    # so ln X_k moves by ~1e-7 M / X_k and the geometric mean by the mean of that over the (non-zero) bins: a
    # frame with many bins far below its peak (a DC offset's side lobes at 1e-5 of it) is ill-conditioned.
    # Allowed: 1e-6 (8 ulps) times that condition number, relative (measured: at most 2.4e-7 times it).
    spec = r0["stft"].astype(np.float64)
    nonzero = spec > 0
    ratio = np.where(nonzero, spec.max(-1, keepdims=True) / np.where(nonzero, spec, 1), 0)
    condition = 1 + ratio.sum(-1) / np.maximum(nonzero.sum(-1), 1)
    assert np.all(np.abs(r1["flatness"] - r0["flatness"]) <= 1e-6 * condition * r0["flatness"] + 1e-7)
    # Entropy: MIRToolbox's 1e-12 in p = X / (sum X + 1e-12) is not scale-free. Frames whose magnitude sum is
    # above 1e-6 (in both) feel it below 1e-6 relative; there float32 rounding of 513 terms bounds the change
    # (measured: 7e-7).
    sums = np.minimum(r0["stft"].sum(-1), r1["stft"].sum(-1))
    loud = sums >= 1e-6
    np.testing.assert_allclose(r1["entropy"][loud], r0["entropy"][loud], rtol=0, atol=1e-5)
    # Key clarity and HCDF: correlations and distances of O(1) chroma values rebuilt from a rescaled spectrum,
    # where the chroma is well conditioned (see `_well_conditioned`; measured there: 9e-7); only for a > 0
    # (see the module docstring on sign flips).
    if a > 0:
        hcdf_ok, key_ok = _well_conditioned(x, r0)
        np.testing.assert_allclose(r1["hcdf"][hcdf_ok], r0["hcdf"][hcdf_ok], rtol=0, atol=1e-5)
        if key_ok:
            np.testing.assert_allclose(r1["key_clarity"], r0["key_clarity"], rtol=0, atol=1e-5)


@PROPERTY
@given(x=signals, log_amp=st.floats(-5.0, 3.0), log_gain=st.floats(-3.0, 3.0))
def test_scale_laws_within_float32_rounding(x, log_amp, log_gain):
    """rms(a x) = a rms(x), |STFT(a x)| = a |STFT(x)|, the scale-free kernels unchanged (signal peak 1e-8 .. 1e6)."""
    x = scaled(x, 10.0 ** log_amp)
    a = float(10.0 ** log_gain)
    r0, r1 = kernels(x), kernels(scaled(x, a))
    _assert_scale_laws(x, r0, r1, a)
    # Roughness is a sum of products of two peak magnitudes: a^2, on the frames whose peak sets agree. The picker
    # is discontinuous where magnitudes tie: on a flat spectrum (a frame holding one impulse) float32 rounding
    # alone decides which of the equal bins are peaks, and another gain rounds them differently (exact gains
    # of 2^k change no rounding: see the next test).
    same = np.all(_peaks(x) == _peaks(scaled(x, a)), axis=-1)
    # float32 products and sums of up to ~100 peaks: 1e-5 relative (measured 8e-7), with an absolute floor of 1e-6
    # of the track's largest roughness: at low levels, a product of two small peaks and a tiny kernel entry (peaks
    # far apart) can underflow float32 at one gain and not at the other.
    np.testing.assert_allclose(r1["roughness"][same], a * a * r0["roughness"][same], rtol=1e-5,
                               atol=1e-6 * a * a * r0["roughness"].max())


@functools.lru_cache(maxsize=None)
def _jitted_peaks():
    return jax.jit(lambda x: dsp.spectral_peaks(dsp.stft_magnitude(x, CFG), contrast=CFG.roughness_contrast,
                                                max_peaks=CFG.max_peaks)[0])


def _peaks(x):
    return np.asarray(_jitted_peaks()(jnp.asarray(x)))


def _assert_exact_above_underflow(actual, desired, gain: float, name: str) -> None:
    """Bit-exact wherever both values are far above float32's underflow edge. XLA on CPU flushes subnormals to
    zero, so a value, or a product inside a sum (two small peaks in roughness), near 1e-38 can vanish at one gain
    and survive at the other (found by hypothesis: roughness 4.1e-38 at gain 2 vs 0 at gain 1); below 2^40 tiny
    the two may differ by such flushed terms, at most 2^14 tiny times the gain."""
    tiny = float(np.finfo(np.float32).tiny)
    actual, desired = np.asarray(actual), np.asarray(desired)
    normal = np.minimum(np.abs(actual), np.abs(desired)) >= 2.0 ** 40 * tiny
    np.testing.assert_array_equal(actual[normal], desired[normal], err_msg=name)
    np.testing.assert_allclose(actual[~normal], desired[~normal], rtol=1e-5, atol=2.0 ** 14 * tiny * max(1.0, gain),
                               err_msg=name)


@PROPERTY
@given(x=signals, log_amp=st.floats(-5.0, 3.0), k=st.integers(-10, 10).filter(bool), sign=st.sampled_from([1, -1]))
@example(x=synthesise("offset", 1024, 28187), log_amp=-3.0, k=1, sign=1)  # roughness at the underflow edge
def test_power_of_two_gains_and_sign_flips_are_exact(x, log_amp, k, sign):
    """A gain of ±2^k changes no rounding: rms, STFT, brightness and roughness follow their laws exactly, and a
    sign flip alone leaves every kernel except key clarity and HCDF bit-identical."""
    x = scaled(x, 10.0 ** log_amp)
    a = sign * 2.0 ** k
    r0, r1 = kernels(x), kernels(scaled(x, a))
    _assert_exact_above_underflow(r1["rms"], abs(a) * r0["rms"], abs(a), "rms")
    _assert_exact_above_underflow(r1["stft"], abs(a) * r0["stft"], abs(a), "stft")
    np.testing.assert_array_equal(r1["zcr"], r0["zcr"])
    np.testing.assert_array_equal(r1["brightness"], r0["brightness"])
    _assert_exact_above_underflow(r1["roughness"], a * a * r0["roughness"], a * a, "roughness")
    _assert_scale_laws(x, r0, r1, a)  # flatness, entropy (logs and epsilons: not exact), key clarity, HCDF
    flipped = kernels(-x)
    for name in ("rms", "zcr", "brightness", "flatness", "entropy", "stft", "roughness"):
        np.testing.assert_array_equal(flipped[name], r0[name], err_msg=name)  # negation commutes with rounding


# ------------------------------------------------------------------------------------------------- silence


@PROPERTY
@given(n=st.sampled_from(LENGTHS), seed=st.integers(0, 2**32 - 1), log_amp=st.floats(-8.0, 6.0))
def test_silent_frames_give_zeros(n, seed, log_amp):
    """Frames of exact digital silence inside a burst signal: every frame kernel is 0 there (HCDF once the
    previous frame is silent too); an all-zero signal gives all-zero outputs and maps."""
    x = scaled(synthesise("bursts", n, seed), 10.0 ** log_amp)
    out = kernels(x)
    frames = np.asarray(dsp.frame(x, CFG))
    silent = ~frames.any(axis=-1)
    for name in ("rms", "zcr", "brightness", "flatness", "entropy", "roughness"):
        assert not out[name][silent].any(), name
    assert not out["stft"][silent].any()
    both = silent & np.concatenate([[True], silent[:-1]])
    assert not out["hcdf"][both].any()
    zero = kernels(np.zeros(n, np.float32))
    for name, v in zero.items():
        if name != "counts":
            assert not np.asarray(v).any(), name
    t = 1 + (n - CFG.frame_length) // CFG.hop_length
    np.testing.assert_array_equal(zero["counts"], [0, 0, t, t, t, 0, 0, 0])  # silence has no spectral shape

