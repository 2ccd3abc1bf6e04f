"""The invariants every public dsp kernel keeps, as one parametrised test over the kernels:

- jit(f)(x) equals f(x) run eagerly (op by op, `jax.disable_jit`) to a few float32 ulps;
- jax.vmap(f) over a batch equals the Python loop over its items;
- a jitted caller traces f once per input shape (new values of the same shape do not retrace).

Kernel-specific batching behaviour (leading batch axes, nested vmap, a silent track inside a batch) stays in
each kernel's own suite.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import chex
import jax
import numpy as np
import pytest

import dsp

CFG = dsp.FeatureConfig()
FS, N_FFT = CFG.sample_rate, CFG.n_fft


class Kernel(NamedTuple):
    fn: Callable  # one item -> array or tuple of arrays
    make: Callable[[int], np.ndarray]  # seed -> one input item
    rtol: float  # relative to each output's largest magnitude
    eager: bool = True  # False: op-by-op execution is too slow (scans over 513 bins run as Python loops)


def _signal(seed: int, seconds: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0 * (seed + 1), 330.0, 495.0))
    return (0.2 * tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _frames(seed: int) -> np.ndarray:
    return np.asarray(dsp.frame(_signal(seed), CFG))


def _spectrum(seed: int) -> np.ndarray:
    return np.asarray(dsp.stft_magnitude(_signal(seed), CFG))


KERNELS = {
    "frame": Kernel(lambda x: dsp.frame(x, CFG), _signal, 0.0),
    "stft_magnitude": Kernel(lambda x: dsp.stft_magnitude(x, CFG), _signal, 1e-6),
    "rms": Kernel(dsp.rms, _frames, 1e-6),
    "zero_crossing_rate": Kernel(lambda f: dsp.zero_crossing_rate(f, sample_rate=FS), _frames, 0.0),
    "brightness": Kernel(lambda s: dsp.brightness(s, sample_rate=FS, n_fft=N_FFT,
                                                  cutoff_hz=CFG.brightness_cutoff_hz), _spectrum, 2e-6),
    "spectral_flatness": Kernel(dsp.spectral_flatness, _spectrum, 2e-6),
    "spectral_entropy": Kernel(dsp.spectral_entropy, _spectrum, 2e-6),
    "min_rms_trim": Kernel(lambda s: dsp.min_rms_trim(dsp.spectral_entropy(s), s, threshold=0.5), _spectrum, 2e-6),
    "spectral_peaks": Kernel(lambda s: dsp.spectral_peaks(s, max_peaks=16), _spectrum, 0.0, eager=False),
    "roughness": Kernel(lambda s: dsp.roughness(s, CFG), _spectrum, 1e-5, eager=False),
    "chromagram": Kernel(lambda f: dsp.chromagram(f, CFG), _frames, 1e-6),
    "key_clarity": Kernel(lambda x: dsp.key_clarity(x, CFG), _signal, 1e-6),
    "hcdf": Kernel(lambda x: dsp.hcdf(x, CFG), _signal, 1e-5),
    "music_features": Kernel(lambda x: dsp.music_features(x, CFG), _signal, 1e-5, eager=False),
    "stft_features": Kernel(lambda x: dsp.stft_features(x, CFG), _signal, 1e-6),
}


def _leaves(out) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(out)]


def _assert_close(got, want, rtol: float, what: str) -> None:
    for g, w in zip(_leaves(got), _leaves(want), strict=True):
        assert g.shape == w.shape, what
        if g.dtype.kind in "biu" or rtol == 0.0:
            np.testing.assert_array_equal(g, w, err_msg=what)
        else:
            scale = float(np.abs(w).max()) if w.size else 0.0
            np.testing.assert_allclose(g, w, rtol=0, atol=rtol * scale + 1e-30, err_msg=what)


@pytest.mark.parametrize("name", KERNELS)
def test_jit_equals_eager(name):
    k = KERNELS[name]
    if not k.eager:
        pytest.skip(f"{name}: op-by-op execution takes minutes; its own suite checks jit == eager on a tiny case")
    x = k.make(0)
    with jax.disable_jit():
        eager = k.fn(x)
    _assert_close(jax.jit(k.fn)(x), eager, k.rtol, f"{name}: jit vs eager")


@pytest.mark.parametrize("name", KERNELS)
def test_vmap_equals_the_loop(name):
    k = KERNELS[name]
    xs = np.stack([k.make(seed) for seed in range(3)])
    loop = [k.fn(x) for x in xs]
    batched = jax.vmap(k.fn)(xs)
    for i, one in enumerate(loop):
        _assert_close(jax.tree_util.tree_map(lambda a: a[i], batched), one, k.rtol, f"{name}: vmap item {i}")


@pytest.mark.parametrize("name", KERNELS)
def test_one_trace_per_shape(name):
    k = KERNELS[name]

    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(x):
        return k.fn(x)

    chex.clear_trace_counter()
    f(k.make(0))
    f(k.make(1))  # same shape, new values: no retrace
