"""Key strengths and key clarity, MIRToolbox `mirkeystrength` + `mirkey` (docs/features.md §1.7, decision D7).

Key clarity of a 6 s window (3 s hop) is the largest Pearson correlation between its chromagram
(`dsp.chroma.chromagram`) and the 24 Gomez key profiles. That is what `mirkey`'s second output
('Key clarity', the `PeakMaxVal` of mirpeaks 'Total' 1, 'Contrast' .1 over the 24 strengths) returns:
the contrast picker always keeps a column's largest value, except when no strength of a window reaches
10 % of the track-global range (min to max over all windows and keys), where MIRToolbox returns NaN and
we return 0 (decision D8: NaN -> 0).

Public:
    GOMEZ_PROFILES: float32 [24, 12], KEY_NAMES: the 24 row names
    key_strengths(chroma) -> float32 [..., 24]
    clarity_from_strengths(strengths, *, contrast, n_valid=None) -> float32 [..., W]
    key_windows(x, cfg) -> float32 [..., W, Lk]
    key_clarity(x, cfg, *, n_valid_windows=None) -> float32 [..., W]
    key_clarity_frames(kc, n_frames, cfg, *, n_valid_windows=None) -> float32 [..., T]
    valid_key_windows(valid_length, cfg) -> int32: the windows of the first valid_length samples (traced)

Valid length. A signal zero-padded past its real end (`mgc_jax.serve.inference` pads to a few bucket lengths so that
files of many lengths share compiled programs) gets extra windows, the first of them half real. With
`n_valid_windows` (a traced int) the track-global range and the frame -> window map use only the first
n_valid_windows windows, so the real windows' clarities and frames equal those of the unpadded signal.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from dsp.autodiff import safe_sqrt
from dsp.chroma import signal_chromagram
from dsp.config import ConfigError, FeatureConfig
from dsp.framing import frame
from dsp.signal import as_signal, as_values

# MIRToolbox `gomezprofs.mat` (olivierlar/mirtoolbox, MIRToolbox/gomezprofs.mat, unchanged since 1.6.2): 24x12,
# rows 0-11 major keys C..B, rows 12-23 minor keys C..B; row k of each half is its C row rotated right by k
# (to 2e-16 in the file). The C rows below are the file's values to 10 digits. They are Gomez's (2006) profiles
# as MIRToolbox stores them: neither Krumhansl's nor essentia's 'gomez'.
_C_MAJOR = (1.5613065279, 0.8396335224, 1.1928630591, 0.7586182944, 1.4157162747, 1.0300166775,
            0.8755926795, 1.5361036632, 0.8414725635, 1.2140956872, 0.7235162154, 1.1331003168)
_C_MINOR = (1.6221607578, 0.8027398386, 1.1587429431, 1.3813449822, 0.9794649735, 1.0486369701,
            0.8594992755, 1.5466225788, 1.0522966014, 1.0178990856, 1.1277555660, 0.9861934689)
_PROFILES_F64 = np.array([np.roll(_C_MAJOR, k) for k in range(12)] + [np.roll(_C_MINOR, k) for k in range(12)])
GOMEZ_PROFILES = _PROFILES_F64.astype(np.float32)
"""float32 [24, 12] key profiles: rows 0-11 C..B major, 12-23 C..B minor; columns pitch classes C..B."""

KEY_NAMES = tuple(f"{p} {mode}" for mode in ("major", "minor")
                  for p in ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"))
"""Names of the 24 key-strength rows, in `GOMEZ_PROFILES` order."""

# Centred, unit-norm profiles: a Pearson correlation is then one dot product with the centred, unit-norm chroma.
_PROFILES_UNIT = _PROFILES_F64 - _PROFILES_F64.mean(axis=1, keepdims=True)
_PROFILES_UNIT = (_PROFILES_UNIT / np.linalg.norm(_PROFILES_UNIT, axis=1, keepdims=True)).astype(np.float32)


def key_strengths(chroma: jax.Array) -> jax.Array:
    """Pearson correlation of a 12-bin chroma with each Gomez key profile (`mirkeystrength`).

    Args:
        chroma: float [..., 12] pitch classes C..B (any scale: the correlation is scale-free).

    Returns:
        float32 [..., 24] in [-1, 1], `KEY_NAMES` order. An all-zero chroma gives 0 (as mirkeystrength); a constant
        non-zero chroma (spread below 1e-6 of its level), whose correlation is 0 / 0 (NaN), also gives 0 (D8).

    Supports jit, vmap and grad (away from constant chromas).
    """
    chroma = as_values(chroma, name="key_strengths")
    centred = chroma - jnp.mean(chroma, axis=-1, keepdims=True)
    norm = safe_sqrt(jnp.sum(jnp.square(centred), axis=-1, keepdims=True))  # 0 for a flat chroma: finite grad
    # A constant chroma leaves only float32 rounding (~1e-7 of its level) after centring: treat it as flat.
    flat = norm <= 1e-6 * jnp.max(jnp.abs(chroma), axis=-1, keepdims=True)
    unit = jnp.where(flat, 0.0, centred / jnp.where(flat, 1.0, norm))  # flat or all-zero chroma: strengths 0
    return (unit @ jnp.asarray(_PROFILES_UNIT).T).astype(jnp.float32)


def key_windows(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """Cut a signal into key-clarity windows: float32 [..., W, Lk] (6 s at a 3 s hop, no padding).

    W = `dsp.n_key_windows(n, cfg)`. A signal of at most one window (n <= Lk) is a single window of all its n
    samples (MIRToolbox would return no frame at all): float32 [..., 1, n].
    """
    x = as_signal(x, name="key_windows")
    n = int(x.shape[-1])
    if n <= cfg.key_window_length:
        return x[..., None, :]
    key_cfg = dataclasses.replace(cfg, frame_length=cfg.key_window_length, hop_length=cfg.key_hop_length)
    return frame(x, key_cfg)


def key_clarity(x: jax.Array, cfg: FeatureConfig, *, n_valid_windows=None) -> jax.Array:
    """Key clarity per 6 s window, MIRToolbox `mirkey(x, 'Frame', 6, 's', .5)` second output.

    Args:
        x: float [..., n] whole track(s) at cfg.sample_rate (the NaN rule below is track-global).
        cfg: static FeatureConfig (key_window_s, key_hop_s, key_contrast, chroma_scale, sample_rate).
        n_valid_windows: None, or an int (may be traced) 1..W: only the first n_valid_windows windows are real
            (the rest zero padding, module docstring); the range is theirs alone, later windows' values are
            meaningless.

    Returns:
        float32 [..., W], W = `dsp.n_key_windows(n, cfg)` (9 for a 30 s track; windows start at 0, 3, 6, ... s):
        the max over the 24 `key_strengths` of the window's chromagram, in [-1, 1] (typically 0.4-0.9).
        A signal shorter than one window is analysed as one window over all its samples.
        0 where MIRToolbox gives NaN: no strength of the window reaches cfg.key_contrast of the track's range
        (min to max over all its windows and keys), or that range is empty (silence, DC).

    Raises:
        ConfigError: if the signal is too short to keep any chroma band bin (see `dsp.chroma.chroma_plan`);
            `dsp.SignalError` for input `dsp.as_signal` refuses.

    Scale-free (x 1e20 gives the same values). Under jit a non-finite sample reads as 0.
    Supports jit (cfg static), vmap over equal-length tracks and grad; traces once per (shape, cfg).
    """
    return _key_clarity(as_signal(x, name="key_clarity"), n_valid_windows, cfg)


@functools.partial(jax.jit, static_argnames="cfg")
def _key_clarity(x: jax.Array, n_valid_windows, cfg: FeatureConfig) -> jax.Array:
    length = min(int(x.shape[-1]), cfg.key_window_length)  # a short signal is one window of all its samples
    chroma = signal_chromagram(x, cfg, frame_length=length, hop_length=cfg.key_hop_length)  # [..., W, 12]
    return clarity_from_strengths(key_strengths(chroma), contrast=cfg.key_contrast, n_valid=n_valid_windows)


def valid_key_windows(valid_length, cfg: FeatureConfig) -> jax.Array:
    """int32: the key windows that lie inside the first `valid_length` samples (`dsp.n_key_windows` of that
    length, for a traced length too); 1 for at most one window."""
    v = jnp.asarray(valid_length, jnp.int32)
    return jnp.where(v > cfg.key_window_length, 1 + (v - cfg.key_window_length) // cfg.key_hop_length, 1)


def clarity_from_strengths(strengths: jax.Array, *, contrast: float, n_valid=None) -> jax.Array:
    """Key clarity of each window from the key strengths of all windows of one track (`mirkey` second output).

    mirpeaks('Total', 1, 'Contrast', contrast) normalises the strengths over the whole track to [0, 1] and returns
    the raw value of each window's highest peak. Its contrast selection always keeps a column's largest value,
    so the clarity is max over the 24 keys, except where that value's normalised level is below `contrast`
    (or the track's range is empty): MIRToolbox returns NaN there, and we return 0 (decision D8).

    Args:
        strengths: float [..., W, 24] key strengths of the W windows of a track (`key_strengths`).
        contrast: mirpeaks 'Contrast' (cfg.key_contrast, 0.1).
        n_valid: None, or an int (may be traced): the range is over the first n_valid windows only.

    Returns:
        float32 [..., W].
    """
    strengths = as_values(strengths, name="clarity_from_strengths")
    clarity = jnp.max(strengths, axis=-1)
    ranged = strengths
    if n_valid is not None:  # padding windows take window 0's strengths: the min and max are the real windows'
        real = (jnp.arange(strengths.shape[-2]) < n_valid)[:, None]
        ranged = jnp.where(real, strengths, strengths[..., :1, :])
    lo = jnp.min(ranged, axis=(-2, -1))[..., None]
    span = jnp.max(ranged, axis=(-2, -1))[..., None] - lo
    reached = (clarity - lo) / jnp.where(span > 0, span, 1.0) >= contrast
    return jnp.where(reached & (span > 0), clarity, 0.0).astype(jnp.float32)


def key_clarity_frames(kc: jax.Array, n_frames: int, cfg: FeatureConfig, *, n_valid_windows=None) -> jax.Array:
    """Spread per-window key clarity onto the 1024/512 analysis frames (decision D6: nearest window centre).

    Frame t (centre (tH + L/2) / fs) takes window j = clip(round((centre − Lk/2 / fs) / hop), 0, W − 1), the window
    whose centre (Lk/2 + j·Hk samples) is nearest; an exact tie goes to the later window. The index table is
    static NumPy.

    Args:
        kc: float [..., W] key clarity per window (`key_clarity`).
        n_frames: T, a Python int (`dsp.n_frames(n, cfg)`).
        cfg: FeatureConfig (frame_length, hop_length, key_window_length, key_hop_length).
        n_valid_windows: None, or an int (may be traced): frames map to the first n_valid_windows windows only
            (W − 1 above becomes n_valid_windows − 1), as the frames of the unpadded signal do.

    Returns:
        float32 [..., T].

    Examples:
        >>> import numpy as np
        >>> f = key_clarity_frames(np.array([0.5, 0.75], np.float32), 387, FeatureConfig())  # 9 s: 2 windows
        >>> float(f[0]), float(f[-1])
        (0.5, 0.75)
    """
    if not isinstance(n_frames, (int, np.integer)):
        raise ConfigError(f"n_frames must be a concrete Python int, got {type(n_frames).__name__}")
    kc = as_values(kc, name="key_clarity_frames")
    n_windows = int(kc.shape[-1])
    # Twice the frame centres, relative to the first window centre, in samples: integers, no float rounding.
    twice_offset = 2 * np.arange(int(n_frames)) * cfg.hop_length + cfg.frame_length - cfg.key_window_length
    j = np.floor(twice_offset / (2 * cfg.key_hop_length) + 0.5).astype(np.int64)
    j = np.clip(j, 0, n_windows - 1)
    if n_valid_windows is None:
        return kc[..., j]
    return jnp.take(kc, jnp.minimum(jnp.asarray(j, jnp.int32), jnp.asarray(n_valid_windows, jnp.int32) - 1), axis=-1)
