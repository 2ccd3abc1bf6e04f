"""Spectral roughness, MIRToolbox `mirroughness` (default method 'Sethares'), in JAX.

R[t] = Σ_{i<j} v_i v_j [exp(-b1 s |f_j - f_i|) - exp(-b2 s |f_j - f_i|)],  s = x* / (s1 min(f_i, f_j) + s2)

over the pairs of peaks of frame t picked by `mirpeaks(X, 'Contrast', .01)` (`dsp.peaks`), with v the raw
(un-normalised) magnitude at the peak bin and f its bin frequency k fs / n_fft (MIRToolbox reads
'PeakPosUnit' and 'PeakVal', i.e. not the interpolated positions). A sum with product weights, as the code
does, though the paper says "average" (docs/features.md §1.6, decision D2). Constants: Sethares' fit of the
Plomp-Levelt curve as in `mirroughness.m`.

Public:
    sethares_dissonance(freqs, amps, mask) -> [...]     the pair sum over any fixed-size peak sets
    roughness(spec, cfg, *, extent) -> float32 [..., T]  the feature, from a magnitude spectrogram
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dsp.config import ConfigError, FeatureConfig
from dsp.peaks import block_edges, peak_magnitude_blocks, vmap_as_leading_axis
from dsp.signal import as_values, peak_scale

B1 = 3.51
B2 = 5.75
XSTAR = 0.24
S1 = 0.0207
S2 = 18.96
NEGLIGIBLE = 1e-10  # kernel blocks whose entries are all below this fraction of the kernel's peak are skipped


def sethares_dissonance(freqs: jax.Array, amps: jax.Array, mask: jax.Array) -> jax.Array:
    """Sethares' dissonance of sets of pure tones, summed over unordered pairs with product weights.

    .. math:: \\sum_{i<j} v_i v_j \\left[e^{-b_1 s |f_j - f_i|} - e^{-b_2 s |f_j - f_i|}\\right],
              \\quad s = \\frac{x^*}{s_1 \\min(f_i, f_j) + s_2}

    Args:
        freqs: float32 [..., P] tone frequencies in Hz (any order).
        amps: float32 [..., P] amplitudes v.
        mask: bool [..., P] which of the P entries are tones (e.g. `dsp.spectral_peaks`' mask).

    Returns:
        float32 [...], >= 0 for non-negative amplitudes; 0 with fewer than two tones.

    Builds the [..., P, P] pair matrix: memory O(P^2) per set. `roughness` does not use it: on the fixed
    bin lattice the same sum is one matrix product (see there). Supports jit, vmap and grad (w.r.t. amps).

    Examples:
        >>> r = sethares_dissonance(jnp.array([440.0, 460.0]), jnp.array([1.0, 1.0]), jnp.array([True, True]))
        >>> round(float(r), 4)
        0.1746
    """
    name = "sethares_dissonance"
    return _sethares(as_values(freqs, name=name), as_values(amps, name=name), jnp.asarray(mask, bool))


@jax.jit
def _sethares(freqs: jax.Array, amps: jax.Array, mask: jax.Array) -> jax.Array:
    fi, fj = freqs[..., :, None], freqs[..., None, :]
    s = XSTAR / (S1 * jnp.minimum(fi, fj) + S2)
    x = s * jnp.abs(fj - fi)
    # e^{-b1 x} - e^{-b2 x} = -e^{-b1 x} expm1(-(b2 - b1) x): no cancellation for close tones in float32.
    kernel = -jnp.exp(-B1 * x) * jnp.expm1(-(B2 - B1) * x)
    p = freqs.shape[-1]
    upper = jnp.arange(p)[:, None] < jnp.arange(p)[None, :]  # each unordered pair once; diagonal is 0 anyway
    pair = upper & mask[..., :, None] & mask[..., None, :]
    terms = jnp.where(pair, amps[..., :, None] * amps[..., None, :] * kernel, 0)
    return jnp.sum(terms, axis=(-2, -1))


@functools.lru_cache(maxsize=8)
def lattice_kernel(sample_rate: int, n_fft: int, n_bins: int) -> np.ndarray:
    """Plomp-Levelt kernel between bins: float32 [bins, bins], K[i, j] for i < j, 0 on and below the diagonal.

    Computed in float64 at the bin frequencies k fs / n_fft, then rounded once to float32.
    """
    f = np.arange(n_bins, dtype=np.float64) * sample_rate / n_fft
    fi, fj = f[:, None], f[None, :]
    s = XSTAR / (S1 * np.minimum(fi, fj) + S2)
    df = np.abs(fj - fi)
    k = np.exp(-B1 * s * df) - np.exp(-B2 * s * df)
    return np.triu(k, 1).astype(np.float32)


def roughness(spec: jax.Array, cfg: FeatureConfig, *, extent=None) -> jax.Array:
    """Per-frame spectral roughness of one whole track (MIRToolbox `mirroughness`, Sethares).

    Args:
        spec: float32 [..., T, bins] un-normalised magnitude spectrogram |rfft| of one whole track
            (bins = cfg.n_bins); leading axes are more tracks. The peak picker normalises by the track's
            global max - min, so a clip cut from a track can differ from the same frames of the whole track.
        cfg: static FeatureConfig: sample_rate, n_fft (bin frequencies) and roughness_contrast.
        extent: None, or float32 [2] (min, max) magnitude of the whole track when `spec` [T, bins] is a block of
            it: the picker then normalises as over the whole track, so the block's rows equal the track's.

    Returns:
        float32 [..., T] in |FFT|^2 units (1e2-1e5 for loud GTZAN tracks); 0 for frames with fewer than
        two peaks and for a constant spectrogram (silence).

    Every peak that mirpeaks selects is used (Total = Inf, as in MIRToolbox), so `cfg.max_peaks`, the
    buffer size of `spectral_peaks`, plays no part. Peak frequencies lie on the bin lattice, so the pair sum
    is the quadratic form w^T K w of the frame's peak-magnitude vector w (magnitude at peaks, 0 elsewhere)
    with a constant upper-triangular [bins, bins] kernel: float32 matrix products over all frames, exact per
    term to float32 rounding of K, with no exp per pair and no compaction. The products skip the blocks
    below the diagonal (bins in blocks of 128 that the picker writes as separate arrays) and the two blocks of
    bins at least 256 apart (kernel <= 4e-14): 8 of 16 blocks.
    It equals `sethares_dissonance` on `spectral_peaks`' sets whenever no frame overflows `max_peaks`.

    Accuracy against MIRToolbox on real GTZAN frames: median relative error ~4e-8. Kernel entries below
    float32's range (peaks far apart at low frequency, e.g. bins 1 and 311: e^-290) are 0, so a frame whose
    only pairs are such gets 0 where MIRToolbox's float64 gives e.g. 3e-126.

    Computed on spec / s, s the power of two at the track's peak magnitude, and scaled back by s² (exact), so
    intermediate products neither overflow nor underflow; the result itself must fit float32 (else inf).

    Supports jit (cfg static), vmap (a vmapped batch is handled as leading axes: the same code path) and grad:
    the gradient flows through the peak magnitudes, the peak selection is held constant (`dsp.peaks`).
    """
    spec = as_values(spec, name="roughness")
    if spec.shape[-1] != cfg.n_bins:
        raise ConfigError(f"spectrogram has {spec.shape[-1]} bins, cfg.n_bins is {cfg.n_bins} (n_fft {cfg.n_fft})")
    if extent is None:
        return _roughness_jit(spec, cfg)
    return _roughness_block(spec, as_values(extent, name="roughness"), cfg)


@functools.partial(jax.jit, static_argnames="cfg")
def _roughness_jit(spec: jax.Array, cfg: FeatureConfig) -> jax.Array:
    s = peak_scale(spec, axis=(-2, -1))[..., 0]  # [..., 1]
    return vmap_as_leading_axis(_roughness, cfg)(spec / s[..., None]) * s * s


@functools.partial(jax.jit, static_argnames="cfg")
def _roughness_block(spec: jax.Array, extent: jax.Array, cfg: FeatureConfig) -> jax.Array:
    s = peak_scale(extent[1:])  # [1]: the scale the whole track's peak gives (peak_scale depends on the max only)
    return _roughness(spec / s, cfg, extent / s) * s * s


def _roughness(spec: jax.Array, cfg: FeatureConfig, extent=None) -> jax.Array:
    edges = block_edges(cfg.n_bins)
    w = peak_magnitude_blocks(spec, edges=edges, contrast=cfg.roughness_contrast, extent=extent)  # [block bins, F]
    kernel = lattice_kernel(cfg.sample_rate, cfg.n_fft, cfg.n_bins)
    spans = list(zip(edges[:-1], edges[1:]))
    total = 0.0
    for a, (a0, a1) in enumerate(spans):
        # (K w)_i for i in block a: blocks left of the diagonal are 0 (K is upper-triangular), so skip them.
        # Blocks whose largest entry is below NEGLIGIBLE x max K (bins >= 256 apart: e^-30 and less) are skipped
        # too: their terms are under 1e-10 of any pair of neighbouring peaks of the same magnitudes.
        kw = sum(
            jnp.dot(jnp.asarray(kernel[a0:a1, b0:b1]), w[b], precision=jax.lax.Precision.HIGHEST)
            for b, (b0, b1) in enumerate(spans)
            if b >= a and kernel[a0:a1, b0:b1].max() >= NEGLIGIBLE * kernel.max()
        )
        total = total + jnp.sum(w[a] * kw, axis=0)
    return total.reshape(spec.shape[:-1])
