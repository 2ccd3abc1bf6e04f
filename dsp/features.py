"""The two feature maps of the paper: the [T, 8] MIRToolbox music map and the [T, 513] STFT map.

`music_features` assembles the eight frame-level features of docs/features.md §1.9 in the order of
`dsp.FEATURE_NAMES`; the STFT is computed once per track and shared by the spectral features and roughness.
Both maps are whole-track functions: roughness peak picking and the MinRMS trims normalise by track-global
maxima, so a clip cut from a track can differ from the same frames computed alone (docs/features.md §6.3).

On a CPU, `jax.vmap` of the maps runs the tracks of the batch one after another (`lax.map` inside the same
program) instead of batching every op: the result is the same as a Python loop, and a track's working set
(~20 MB) stays in cache and in the allocator's reused heap, where a batch of 5 does not (measured ~1.2x less
CPU and ~1.5x less wall time for 5 tracks on the 2-core dev box; some kernels, e.g. zcr, ran 5x slower per
track batched). Other backends batch as usual.

Input (`dsp.as_signal`): lists are converted before tracing, integer PCM is scaled to [-1, 1], bool / complex /
non-finite concrete input is refused. Under jit a non-finite sample reads as 0 and every 1024-sample frame that
held one is undefined: 0 in all eight music columns (counted) and an all-zero STFT row. The maps are computed on
x / s, s the power of two at the track's peak, and rms, roughness and the STFT are scaled back (exact in
float32): x 1e20 gives the features of x (rms and STFT x 1e20). Roughness, in |FFT|² units, leaves float32's
range above a peak of ~1e16 and is then undefined (0, counted); see dsp/signal.py.

Differentiable (jax.grad / jvp / vjp, under jit and vmap): see `dsp.autodiff`; peak selection and the MinRMS
trims are discrete and held constant, the gradient flows through the values they keep.

Valid length (`valid_length=`, a traced int allowed). A signal zero-padded past its real end, so that signals of
many lengths share one compiled program (`mgc_jax.data.maps.bucket_length`), gets frames and key windows that
see the padding, and the track-global steps would see them too. With `valid_length` = the real sample count, the
track-global steps use the real frames and windows only: the MinRMS maxima and the roughness peak picker's
range (the padding frames take frame 0's spectrum there), the key-clarity range and frame -> window map
(`dsp.key`), and the counts. The rows of the real frames, dsp.n_frames(valid_length), then equal the unpadded
signal's maps (to float rounding, ~1e-7 relative); the later rows are meaningless. The other columns are per
frame (HCDF looks back only), the scale s is the peak (zeros leave it alone), and the STFT map is per frame, so
it needs no valid length. valid_length must exceed one key window (6 s) unless it is the whole signal: a shorter
signal is analysed as a single window of its own length.

Blocks of a long track (`mgc_jax.data.maps.track_maps_blockwise`). The maps of a whole hour held at once need
~7 GB; a block of frames gets the same rows as the whole track when the track-global steps are handed in from the
whole track: the scale s, the smallest and largest |rfft| bin (roughness's peak-picker range; the largest also
fixes MinRMS's level scale), the largest spectral level (MinRMS's reference) and the key clarity of the block's
frames (from the key strengths of all the track's windows). That is a `TrackContext`; `frame_statistics` gives the
per-frame values its extrema are taken over. Everything else is per frame, and HCDF looks one frame back.

Public:
    music_features(x, cfg, *, valid_length=None) -> float32 [T, 8]
    music_features_with_nan_counts(x, cfg, *, valid_length=None) -> (float32 [T, 8], int32 [8])
    stft_features(x, cfg) -> float32 [T, bins]
    feature_maps(x, cfg) -> {"music": [T, 8], "stft": [T, bins], "music_nan_counts": int32 [8]}   one STFT
    TrackContext, frame_statistics(x, scale, cfg) -> float32 [T, 3], block_maps(x, context, cfg)   long tracks
"""
from __future__ import annotations

import functools
import typing

import jax
import jax.numpy as jnp
from jax import custom_batching

from dsp import spectral
from dsp.autodiff import differentiable_as
from dsp.chroma import chroma_plan, frame_extrema
from dsp.config import FEATURE_NAMES, ConfigError, FeatureConfig, n_frames
from dsp.framing import frame, magnitude_spectrum, windowed_rfft
from dsp.key import key_clarity, key_clarity_frames, valid_key_windows
from dsp.roughness import roughness
from dsp.signal import as_signal, finite_samples, peak_scale
from dsp.tonal import hcdf, hcdf_from_spectrum


def music_features_with_nan_counts(x: jax.Array, cfg: FeatureConfig, *,
                                   valid_length=None) -> tuple[jax.Array, jax.Array]:
    """The eight MIRToolbox features of one track per frame, with the number of undefined values per feature.

    Args:
        x: float [n] one whole track at cfg.sample_rate, n >= cfg.frame_length.
        cfg: static FeatureConfig.
        valid_length: None, or the int (may be traced) count of real samples of a zero-padded x (module
            docstring); the counts then cover the real frames only.

    Returns:
        (float32 [T, 8], int32 [8]) with T = `dsp.n_frames(n, cfg)`. Columns, in `FEATURE_NAMES` order:
        rms (signal units), zcr (Hz), brightness, flatness, entropy (in [0, 1]), roughness (|FFT|² units),
        key_clarity (in [-1, 1], per 6 s window, nearest window centre), hcdf (>= 0, first frame 0).
        Values MIRToolbox leaves undefined (MinRMS-trimmed frames of brightness / flatness / entropy, all-zero
        spectra, and any non-finite value) are 0 (decision D8), as are, under jit, the frames that held a
        non-finite sample; the int32 [8] counts them per column.

    Raises:
        ConfigError: if n < cfg.frame_length; `dsp.SignalError` for input `dsp.as_signal` refuses.

    Supports jit (cfg static), vmap over a batch of equal-length tracks [B, n] (which equals the loop) and grad.
    Silence, DC and full-scale clipped input give finite maps (and finite gradients). Input and scale rules: the
    module docstring.
    """
    x = _one_track(x, "music_features_with_nan_counts")
    return _music_with_counts(x, cfg) if valid_length is None else _music_valid(x, valid_length, cfg)


@functools.partial(jax.jit, static_argnames="cfg")
def _music_with_counts(x: jax.Array, cfg: FeatureConfig) -> tuple[jax.Array, jax.Array]:
    return _one_track_at_a_time(_music_features, cfg)(x)


@functools.partial(jax.jit, static_argnames="cfg")
def _music_valid(x: jax.Array, valid_length, cfg: FeatureConfig) -> tuple[jax.Array, jax.Array]:
    """The music map of a zero-padded track (plain JAX: vmap batches every op, grad is JAX's own)."""
    x, s, bad = _prepare(x, cfg)
    return _music_from_frames(x, frame(x, cfg), s, bad, cfg, valid_length=jnp.asarray(valid_length, jnp.int32))


def _prepare(x: jax.Array, cfg: FeatureConfig, scale=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(x / s with non-finite samples at 0, the scale s (float32 [1]; `scale` when given), bool [T] frames that
    held one)."""
    t = n_frames(int(x.shape[-1]), cfg)
    if t == 0:
        frame(x, cfg)  # raises the ConfigError that names both sizes
    x, ok = finite_samples(x)
    bad = frame_extrema((~ok).astype(jnp.float32), frame_length=cfg.frame_length, hop_length=cfg.hop_length,
                        n_frames=t)[1] > 0
    s = peak_scale(x) if scale is None else jnp.reshape(jnp.asarray(scale, jnp.float32), (1,))
    return x / s, s, bad


def _music_features(x: jax.Array, cfg: FeatureConfig) -> tuple[jax.Array, jax.Array]:
    x, s, bad = _prepare(x, cfg)
    return _music_from_frames(x, frame(x, cfg), s, bad, cfg)


def _music_from_frames(x: jax.Array, frames: jax.Array, s: jax.Array, bad: jax.Array, cfg: FeatureConfig, *,
                       valid_length=None):
    """The music map and per-column counts from the track x / s [n], its frames [T, L], the scale s and the
    frames [T] to mark undefined; `valid_length` (traced int32 or None): module docstring."""
    real = None
    if valid_length is not None:
        real = jnp.arange(frames.shape[0]) < 1 + (valid_length - cfg.frame_length) // cfg.hop_length
    columns, undefined = _music_columns(x, frames, s, bad, cfg, valid_length=valid_length, real=real)
    counts = jnp.sum(undefined if real is None else undefined & real[:, None], axis=0, dtype=jnp.int32)
    return columns, counts


def _music_columns(x, frames, s, bad, cfg: FeatureConfig, *, valid_length=None, real=None, context=None):
    """(float32 [T, 8] music map, bool [T, 8] undefined values) of `_music_from_frames`; with a `TrackContext`
    the track-global steps use the whole track's values instead of x's."""
    t = frames.shape[0]
    complex_spec = windowed_rfft(frames, n_fft=cfg.n_fft)  # [T, bins], one FFT for every frame-level feature
    spec = jnp.abs(complex_spec).astype(jnp.float32)
    fs = cfg.sample_rate
    windows, spec_global = None, spec  # spec_global: what the track-global maxima and ranges see
    extent = reference = None
    if context is not None:
        extent = jnp.stack([context.spec_min, context.spec_max])
        reference = jnp.stack([context.spec_max, context.loudest])
    if valid_length is not None:
        windows = valid_key_windows(valid_length, cfg)
        spec_global = jnp.where(real[:, None], spec, spec[:1])  # copies of a real frame: the same max and min

    trimmed = {
        "brightness": (
            spectral.brightness(spec, sample_rate=fs, n_fft=cfg.n_fft, cutoff_hz=cfg.brightness_cutoff_hz),
            cfg.min_rms_brightness,
        ),
        "flatness": (spectral.spectral_flatness(spec), cfg.min_rms_flatness),
        "entropy": (spectral.spectral_entropy(spec), cfg.min_rms_entropy),
    }
    raw = {
        "rms": spectral.rms(frames) * s,  # the homogeneous features get their scale back (exact: s = 2^k)
        "zcr": spectral.zero_crossing_rate(frames, sample_rate=fs),
        "roughness": roughness(spec_global, cfg, extent=extent) * s * s,  # not s * s first: s² alone can overflow
        "key_clarity": (key_clarity_frames(key_clarity(x, cfg, n_valid_windows=windows), t, cfg,
                                           n_valid_windows=windows) if context is None else context.key_clarity),
        "hcdf": _hcdf(x, frames, complex_spec, cfg),
    }
    columns, undefined_columns = [], []
    for name in FEATURE_NAMES:
        if name in trimmed:
            values = trimmed[name][0]
            undefined = spectral.min_rms_undefined(values, spec_global, threshold=trimmed[name][1],
                                                   reference=reference)
        else:
            values = raw[name]
            undefined = ~jnp.isfinite(values)
        undefined = undefined | bad
        columns.append(jnp.where(undefined, 0, values).astype(jnp.float32))
        undefined_columns.append(undefined)
    return jnp.stack(columns, axis=-1), jnp.stack(undefined_columns, axis=-1)


def _hcdf(x: jax.Array, frames: jax.Array, complex_spec: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """HCDF [T] from the shared STFT when the chromagram's FFT size is the STFT's (the defaults), else from x."""
    if chroma_plan(cfg.frame_length, cfg.sample_rate, cfg.chroma_scale).n_fft != cfg.n_fft:
        return hcdf(x, cfg)
    return hcdf_from_spectrum(complex_spec, jnp.min(frames, axis=-1), jnp.max(frames, axis=-1), cfg)


def music_features(x: jax.Array, cfg: FeatureConfig, *, valid_length=None) -> jax.Array:
    """The paper's music feature map of one track: float32 [T, 8], columns `FEATURE_NAMES`, undefined values 0.

    Same as `music_features_with_nan_counts(x, cfg, valid_length=valid_length)[0]`; see there for units and edge
    cases, and the module docstring for `valid_length` (a zero-padded x). Supports jit, vmap and grad.

    Examples:
        >>> music_features(jnp.zeros(22050 * 7), FeatureConfig()).shape
        (300, 8)
    """
    x = _one_track(x, "music_features")
    return (_music_with_counts(x, cfg) if valid_length is None else _music_valid(x, valid_length, cfg))[0]


def stft_features(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """The paper's STFT map of one track: float32 [T, cfg.n_bins] = `dsp.stft_magnitude(x, cfg)`.

    Linear, un-normalised |rfft| of symmetric Hamming frames (docs/features.md §0; no log compression).
    Supports jit (cfg static), vmap (tracks one after another, see the module docstring) and grad. Frames that
    held a non-finite sample (under jit) are all-zero rows.
    """
    return _stft_map(_one_track(x, "stft_features"), cfg)


@functools.partial(jax.jit, static_argnames="cfg")
def _stft_map(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    return _one_track_at_a_time(_stft_features, cfg)(x)


def _stft_features(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    x, s, bad = _prepare(x, cfg)
    return _stft_rows(frame(x, cfg), s, bad, cfg)


def _stft_rows(frames: jax.Array, s: jax.Array, bad: jax.Array, cfg: FeatureConfig) -> jax.Array:
    return jnp.where(bad[:, None], 0, magnitude_spectrum(frames, n_fft=cfg.n_fft) * s)


def feature_maps(x: jax.Array, cfg: FeatureConfig) -> dict[str, jax.Array]:
    """Both maps of one track from one STFT, keyed by map kind: {"music": float32 [T, 8], "stft": float32
    [T, cfg.n_bins], "music_nan_counts": int32 [8]}.

    Equals `music_features_with_nan_counts(x, cfg)` and `stft_features(x, cfg)`; use it under `jax.vmap` (as the
    feature cache does), where the two separate functions would each loop over the tracks and compute the
    framing and FFT twice. Supports jit (cfg static), vmap and grad.
    """
    return _maps(_one_track(x, "feature_maps"), cfg)


@functools.partial(jax.jit, static_argnames="cfg")
def _maps(x: jax.Array, cfg: FeatureConfig):
    return _one_track_at_a_time(_both_maps, cfg)(x)


def _both_maps(x: jax.Array, cfg: FeatureConfig):
    x, s, bad = _prepare(x, cfg)
    frames = frame(x, cfg)
    # Same frames and window as in the music map: XLA computes the FFT once for both (checked in the tests).
    music, nan_counts = _music_from_frames(x, frames, s, bad, cfg)
    return {"music": music, "stft": _stft_rows(frames, s, bad, cfg), "music_nan_counts": nan_counts}


def _one_track(x, name: str) -> jax.Array:
    x = as_signal(x, name=name)  # before any tracing: a Python list would be traced sample by sample
    if x.ndim != 1:
        raise ConfigError(f"{name} takes one track [n], got shape {x.shape}; use jax.vmap for a batch")
    return x


@functools.lru_cache(maxsize=64)
def _one_track_at_a_time(fn, cfg: FeatureConfig):
    """x [n] -> fn(x, cfg), whose `jax.vmap` runs the tracks in sequence with `lax.map` on CPU (module docstring).

    On other backends (a GPU has the parallelism and memory to batch) the batch is vmapped as usual.
    Differentiable: `custom_vmap` has no JVP rule, so the tangent is the JVP of `fn` itself (`differentiable_as`);
    `jax.vmap` of a gradient batches that plain JVP as usual.
    """
    one = functools.partial(fn, cfg=cfg)
    wrapped = custom_batching.custom_vmap(one)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, x):  # x has the batch at axis 0
        if not in_batched[0]:
            out = wrapped(x)
            return out, jax.tree.map(lambda _: False, out)
        out = jax.lax.map(wrapped, x) if jax.default_backend() == "cpu" else jax.vmap(one)(x)
        return out, jax.tree.map(lambda _: True, out)

    return differentiable_as(wrapped, one)


class TrackContext(typing.NamedTuple):
    """What a block of a long track needs from the whole track for its rows to equal the whole track's rows.

    The music map's track-global steps (the signal scale, roughness's peak-picker range, the MinRMS reference
    level, the key-clarity range over all windows) are taken from here instead of from the block; every other
    column is per frame (HCDF looks one frame back: give a block one frame before its first row).
    `mgc_jax.data.maps` computes it block by block (`frame_statistics`, `key_strengths` of the track's windows).

    scale: float32 [1] power of two at the whole track's peak |sample| (`dsp.signal.peak_scale`).
    spec_min, spec_max: float32 [] smallest and largest |rfft| bin over the track's frames of x / scale.
    loudest: float32 [] largest `spectral_level` over those frames.
    key_clarity: float32 [T] key clarity of the block's T frames (`key_clarity_frames` of the track's windows).
    """

    scale: jax.Array
    spec_min: jax.Array
    spec_max: jax.Array
    loudest: jax.Array
    key_clarity: jax.Array


@functools.partial(jax.jit, static_argnames="cfg")
def frame_statistics(x: jax.Array, scale: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """Per frame of x / scale: float32 [T, 3] (smallest |rfft| bin, largest, `spectral_level`): the values whose
    extrema over a whole track make its `TrackContext` (non-finite samples read as 0, as in the maps).

    x: float32 [n] a block of a track (frames are local: block boundaries on the frame hop); scale: float32 [1].
    """
    x, _, _ = _prepare(x, cfg, scale)
    spec = jnp.abs(windowed_rfft(frame(x, cfg), n_fft=cfg.n_fft)).astype(jnp.float32)
    return jnp.stack([jnp.min(spec, axis=-1), jnp.max(spec, axis=-1), spectral.spectral_level(spec)], axis=-1)


@functools.partial(jax.jit, static_argnames="cfg")
def block_maps(x: jax.Array, context: TrackContext, cfg: FeatureConfig) -> dict[str, jax.Array]:
    """Both maps of a block of a long track, whose rows equal the whole track's, keyed by map kind: {"music":
    float32 [T, 8], "stft": float32 [T, bins], "music_undefined": bool [T, 8] (the values counted as undefined)}.

    x: float32 [n] samples of the block (starting on the frame hop, one frame before the first row wanted when
    HCDF must look back); context: the track's `TrackContext`, key_clarity float32 [T] for these frames.
    Padding frames past the track's end are computed and meaningless. Under jit, unused outputs are not computed.
    """
    x, s, bad = _prepare(x, cfg, context.scale)
    frames = frame(x, cfg)
    music, undefined = _music_columns(x, frames, s, bad, cfg, context=context)
    return {"music": music, "stft": _stft_rows(frames, s, bad, cfg), "music_undefined": undefined}
