"""Gradients through every public dsp function and both feature maps (dsp/autodiff.py's rules included).

What is checked, and why it can fail:
- jvp and vjp agree (<vjp(c), t> = <c, jvp(t)>) and are finite, under jit, for every public function;
- Euler's identity for functions homogeneous of degree k, <grad f(x), x> = k f(x), on real audio: STFT and rms
  k = 1, roughness k = 2, the six others k = 0 (scale-free). A wrong tangent anywhere in a chain breaks it;
- `jax.test_util.check_grads` against finite differences where the function is smooth;
- finite gradients on silence and on full-scale clipped input (sqrt at 0, flat chromas, zero spectra);
- `jax.vmap(jax.grad(f))` equals the loop of `jax.grad(f)` (the custom batching rule vs the plain JVP).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import dsp
from dsp.peaks import peak_magnitude_blocks, peak_mask

CFG = dsp.FeatureConfig()
FS = CFG.sample_rate
EULER_RTOL = 1e-3  # issue 13; float32 sums over ~2e5 samples carry ~1e-6 relative rounding


def _noise(seconds: float, seed: int = 0, scale: float = 0.1) -> jax.Array:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    return jnp.asarray((scale * (0.3 * tone + rng.standard_normal(t.size))).astype(np.float32))


def _spec(x):
    return dsp.stft_magnitude(x, CFG)


# Every public dsp function, as a function of a signal x [n] (spectral kernels get its STFT).
PUBLIC = {
    "frame": lambda x: dsp.frame(x, CFG),
    "stft_magnitude": _spec,
    "magnitude_spectrum": lambda x: dsp.magnitude_spectrum(dsp.frame(x, CFG), n_fft=CFG.n_fft),
    "windowed_rfft": lambda x: jnp.real(dsp.windowed_rfft(dsp.frame(x, CFG), n_fft=CFG.n_fft)),
    "rms": lambda x: dsp.rms(dsp.frame(x, CFG)),
    "zero_crossing_rate": lambda x: dsp.zero_crossing_rate(dsp.frame(x, CFG), sample_rate=FS),
    "brightness": lambda x: dsp.brightness(_spec(x), sample_rate=FS, n_fft=CFG.n_fft, cutoff_hz=1500.0),
    "spectral_flatness": lambda x: dsp.spectral_flatness(_spec(x)),
    "spectral_entropy": lambda x: dsp.spectral_entropy(_spec(x)),
    "min_rms_trim": lambda x: dsp.min_rms_trim(dsp.spectral_entropy(_spec(x)), _spec(x), threshold=0.005),
    "spectral_peaks": lambda x: dsp.spectral_peaks(_spec(x)),
    "peak_magnitude_blocks": lambda x: peak_magnitude_blocks(_spec(x), edges=(0, 128, 256, 384, 513)),
    "sethares_dissonance": lambda x: dsp.sethares_dissonance(
        jnp.array([440.0, 460.0, 600.0]), _spec(x)[:, 20:23], jnp.array([True, True, True])),
    "roughness": lambda x: dsp.roughness(_spec(x), CFG),
    "chromagram": lambda x: dsp.chromagram(dsp.frame(x, CFG), CFG),
    "signal_chromagram": lambda x: dsp.signal_chromagram(x, CFG, frame_length=1024, hop_length=512),
    "chromagram_from_spectrum": lambda x: dsp.chromagram_from_spectrum(
        dsp.windowed_rfft(dsp.frame(x, CFG), n_fft=CFG.n_fft), dsp.frame(x, CFG).min(-1),
        dsp.frame(x, CFG).max(-1), CFG, frame_length=1024),
    "key_strengths": lambda x: dsp.key_strengths(dsp.chromagram(dsp.frame(x, CFG), CFG)),
    "clarity_from_strengths": lambda x: dsp.clarity_from_strengths(
        dsp.key_strengths(dsp.chromagram(dsp.frame(x, CFG), CFG)), contrast=0.1),
    "key_clarity": lambda x: dsp.key_clarity(x, CFG),
    "key_clarity_frames": lambda x: dsp.key_clarity_frames(dsp.key_clarity(x, CFG), 10, CFG),
    "tonal_centroid": lambda x: dsp.tonal_centroid(dsp.chromagram(dsp.frame(x, CFG), CFG)),
    "harmonic_change": lambda x: dsp.harmonic_change(dsp.chromagram(dsp.frame(x, CFG), CFG)),
    "hcdf": lambda x: dsp.hcdf(x, CFG),
    "hcdf_from_spectrum": lambda x: dsp.hcdf_from_spectrum(
        dsp.windowed_rfft(dsp.frame(x, CFG), n_fft=CFG.n_fft), dsp.frame(x, CFG).min(-1),
        dsp.frame(x, CFG).max(-1), CFG),
    "music_features": lambda x: dsp.music_features(x, CFG),
    "music_features_with_nan_counts": lambda x: dsp.music_features_with_nan_counts(x, CFG),
    "stft_features": lambda x: dsp.stft_features(x, CFG),
    "feature_maps": lambda x: dsp.feature_maps(x, CFG),
}
MAPS = ("music_features", "music_features_with_nan_counts", "feature_maps")  # ~10 s of compiling each: slow
# ~8 s each; what they check is also checked by roughness and test_peak_selection_is_constant_under_differentiation.
SLOW = MAPS + ("spectral_peaks", "peak_magnitude_blocks")


def _random_like(tree, seed):
    """Random float cotangents for the float leaves, float0 zeros for int / bool ones."""
    leaves, treedef = jax.tree.flatten(tree)
    rng = np.random.default_rng(seed)
    out = [jnp.asarray(rng.standard_normal(np.shape(v)), jnp.result_type(v))
           if jnp.issubdtype(jnp.result_type(v), jnp.floating)
           else np.zeros(np.shape(v), jax.dtypes.float0) for v in leaves]
    return jax.tree.unflatten(treedef, out)


def _vdot(a, b) -> float:
    pairs = [(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))
             if jnp.issubdtype(jnp.result_type(u), jnp.floating)]
    return float(sum(jnp.vdot(u, v) for u, v in pairs))


def _check_adjoint(name):
    fn = jax.jit(PUBLIC[name])
    x = _noise(1.0)
    y, vjp_fn = jax.vjp(fn, x)
    ct = _random_like(y, 1)
    (g,) = jax.jit(vjp_fn)(ct)
    t = _random_like(x, 2)
    _, ty = jax.jit(lambda x, t: jax.jvp(fn, (x,), (t,)))(x, t)
    assert bool(jnp.all(jnp.isfinite(g))), f"{name}: non-finite gradient"
    for leaf in jax.tree.leaves(ty):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            assert bool(jnp.all(jnp.isfinite(leaf))), f"{name}: non-finite tangent"
    lhs, rhs = float(jnp.vdot(g, t)), _vdot(ct, ty)
    # Both sides are the same bilinear form in float32; 1e-3 of the terms' magnitude allows summation order.
    scale = float(jnp.sum(jnp.abs(g * t))) + 1e-30
    assert abs(lhs - rhs) <= 1e-3 * scale, (name, lhs, rhs)


@pytest.mark.parametrize("name", [n for n in PUBLIC if n not in SLOW])
def test_jvp_and_vjp_agree_for_every_public_function(name):
    _check_adjoint(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_jvp_and_vjp_agree_for_the_maps_and_the_peak_picker(name):
    _check_adjoint(name)


def _euler(f, x, k):
    """(<grad f(x), x>, k f(x), scale): the identity's two sides and the size of the terms of the dot product."""
    value, g = jax.value_and_grad(f)(x)
    return float(jnp.vdot(g, x)), k * float(value), float(jnp.sum(jnp.abs(g * x)))


HOMOGENEITY = {"rms": 1, "zcr": 0, "brightness": 0, "flatness": 0, "entropy": 0, "roughness": 2,
               "key_clarity": 0, "hcdf": 0}


def _assert_euler_per_column(x):
    columns = jax.jit(lambda x: jnp.sum(dsp.music_features(x, CFG), axis=0))
    values, jac = columns(x), jax.jit(jax.jacrev(columns))(x)  # [8], [8, n]
    assert bool(jnp.all(jnp.isfinite(jac)))
    for j, name in enumerate(dsp.FEATURE_NAMES):
        lhs, rhs = float(jnp.vdot(jac[j], x)), HOMOGENEITY[name] * float(values[j])
        scale = max(abs(rhs), float(jnp.sum(jnp.abs(jac[j] * x))), 1e-30)
        assert abs(lhs - rhs) <= EULER_RTOL * scale, (name, lhs, rhs)
        if HOMOGENEITY[name] > 0:
            assert abs(rhs) > 0, name  # not trivially 0 = 0


def _real_clip(path, seconds: float) -> jax.Array:
    sf = pytest.importorskip("soundfile")
    y, fs = sf.read(path, dtype="float32")
    assert fs == FS
    return jnp.asarray(y[: int(seconds * FS)])


def test_euler_identity_per_music_column_on_real_audio(gtzan_dev_clips):
    # 10 s: two 6 s key windows, so key clarity's track-global normalisation takes part.
    _assert_euler_per_column(_real_clip(gtzan_dev_clips[0], 10.0))


@pytest.mark.slow
def test_euler_identity_per_music_column_on_every_dev_clip(gtzan_dev_clips):
    for path in gtzan_dev_clips:
        _assert_euler_per_column(_real_clip(path, 30.0))


@pytest.mark.parametrize("name,f,k", [
    ("stft_features", lambda x: jnp.sum(dsp.stft_features(x, CFG)), 1),
    ("rms", lambda x: jnp.sum(dsp.rms(dsp.frame(x, CFG))), 1),
    ("roughness", lambda x: jnp.sum(dsp.roughness(dsp.stft_magnitude(x, CFG), CFG)), 2),
    ("stft map of feature_maps", lambda x: jnp.sum(dsp.feature_maps(x, CFG)["stft"]), 1),
])
def test_euler_identity_of_the_stft_rms_and_roughness(name, f, k, gtzan_dev_clips):
    lhs, rhs, scale = _euler(jax.jit(f), _real_clip(gtzan_dev_clips[1], 5.0), k)
    assert rhs > 0 and abs(lhs - rhs) <= EULER_RTOL * max(abs(rhs), scale), (name, lhs, rhs)


def test_gradients_of_both_maps_are_finite_on_silence_clipping_and_noise():
    x = _noise(3.0)
    clipped = jnp.clip(20 * x, -1.0, 1.0)  # full-scale square-ish wave: many samples at exactly ±1
    inputs = {"noise": x, "silence": jnp.zeros_like(x), "clipped": clipped, "dc": jnp.full_like(x, 0.5)}

    def loss(x):
        maps = dsp.feature_maps(x, CFG)
        return jnp.sum(maps["music"]) + jnp.sum(maps["stft"])

    grad = jax.jit(jax.grad(loss))
    for what, signal in inputs.items():
        g = grad(signal)
        assert bool(jnp.all(jnp.isfinite(g))), what
    assert float(jnp.max(jnp.abs(grad(x)))) > 0


def _assert_vmap_of_grad_is_the_loop(f):
    xs = jnp.stack([_noise(2.0, seed=s, scale=0.05 * (s + 1)) for s in range(2)])
    grad = jax.jit(jax.grad(f))
    batched = jax.jit(jax.vmap(jax.grad(f)))(xs)
    loop = jnp.stack([grad(x) for x in xs])
    # Same math, batched vs one by one: float32 reassociation only.
    np.testing.assert_allclose(batched, loop, rtol=1e-4, atol=1e-5 * float(jnp.max(jnp.abs(loop))))


def test_vmap_of_grad_equals_the_loop_for_the_stft_map():
    _assert_vmap_of_grad_is_the_loop(lambda x: jnp.sum(dsp.stft_features(x, CFG) ** 2))


@pytest.mark.slow
def test_vmap_of_grad_equals_the_loop_for_the_music_map():  # ~20 s: two compilations of the music map's gradient
    _assert_vmap_of_grad_is_the_loop(lambda x: jnp.sum(dsp.music_features(x, CFG) * jnp.arange(1.0, 9.0)))


def test_vmap_of_jvp_of_roughness_equals_the_loop():
    specs = jnp.stack([dsp.stft_magnitude(_noise(1.0, seed=s), CFG) for s in range(2)])
    tangents = jnp.stack([_random_like(s, 5 + i) for i, s in enumerate(specs)])
    jvp = jax.jit(lambda s, t: jax.jvp(lambda s: dsp.roughness(s, CFG), (s,), (t,))[1])
    batched = jax.jit(jax.vmap(jvp))(specs, tangents)
    loop = jnp.stack([jvp(s, t) for s, t in zip(specs, tangents)])
    np.testing.assert_allclose(batched, loop, rtol=1e-4, atol=1e-6 * float(jnp.max(jnp.abs(loop))))


def test_peak_selection_is_constant_under_differentiation():
    spec = dsp.stft_magnitude(_noise(1.0), CFG)
    # The gradient of the summed peak magnitudes is exactly the peak mask: the values flow, the choice does not.
    g = jax.grad(lambda s: sum(jnp.sum(b) for b in peak_magnitude_blocks(s, edges=(0, 128, 256, 384, 513))))(spec)
    np.testing.assert_array_equal(np.asarray(g), np.asarray(peak_mask(spec), np.float32))


# Smooth functions (no selection, no clipping at a floor, inputs away from zero): finite differences agree.
SMOOTH = {
    "rms": lambda x: dsp.rms(dsp.frame(x, CFG)),
    "stft_magnitude": _spec,
    "brightness": lambda x: dsp.brightness(_spec(x), sample_rate=FS, n_fft=CFG.n_fft, cutoff_hz=1500.0),
    "spectral_flatness": lambda x: dsp.spectral_flatness(_spec(x)),
    "spectral_entropy": lambda x: dsp.spectral_entropy(_spec(x)),
    "tonal_centroid": lambda x: dsp.tonal_centroid(jnp.abs(x[:12]) + 0.1),
    "key_strengths": lambda x: dsp.key_strengths(jnp.abs(x[:12]) + 0.1),
    "sethares_dissonance": lambda x: dsp.sethares_dissonance(
        jnp.array([440.0, 460.0, 600.0]), x[:3], jnp.array([True, True, True])),
}


@pytest.mark.parametrize("name", SMOOTH)
def test_check_grads_where_smooth(name):
    x = _noise(2048 / FS, seed=3, scale=0.5)  # 3 frames; float32: steps of 1e-3 and 2e-2 relative tolerance
    check_grads(SMOOTH[name], (x,), order=1, modes=("fwd", "rev"), eps=1e-3, atol=2e-2, rtol=2e-2)
