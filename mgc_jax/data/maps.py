"""One track's feature maps as the nets see them: the crop rule, length buckets, the maps and their clips.

The feature cache, online training, inference and saliency all crop a signal to the end of its last full
key-clarity window (`crop_length`) and cut 128-frame clips every 64 frames (`cut_clips`), so a file's maps
equal its cached ones. A track longer than BLOCK_FRAMES frames (190 s) is computed in blocks with the same rows
(`track_maps_blockwise`, `track_clips`), so memory does not grow with its length (WORKSPACE.md, "Long files").
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import dsp
import dsp.features
from dsp.signal import peak_scale
from mgc_jax.data.clips import CLIP_FRAMES, CLIP_HOP, clip_starts


def crop_length(n_samples: int, cfg) -> int:
    """Samples of an n-sample track that are analysed: the end of its last full key-clarity window.

    = key_window_length + (W - 1) * key_hop_length with W = dsp.n_key_windows(n, cfg); n itself when
    the track is no longer than one key window. (30 s at 22,050 Hz: 661,500 samples, T = 1290 frames.)
    The feature cache crops by the same rule (`mgc_jax.data.extraction`), so a file's maps equal its cached ones.
    """
    if n_samples <= cfg.key_window_length:
        return n_samples
    return _windows_length(dsp.n_key_windows(int(n_samples), cfg), cfg)


def _windows_length(w: int, cfg) -> int:
    """Samples spanned by w key-clarity windows: Lk + (w - 1) Hk."""
    return cfg.key_window_length + (w - 1) * cfg.key_hop_length


def min_samples(cfg) -> int:
    """Samples in one clip: frame_length + (CLIP_FRAMES - 1) * hop_length (66,048 = 2.995 s at 22,050 Hz)."""
    return cfg.frame_length + (CLIP_FRAMES - 1) * cfg.hop_length


def _bucket_windows(w: int) -> int:
    """The smallest of round(sqrt(2)^k) (1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, ...) >= w."""
    k = 0
    while round(2 ** (k / 2)) < w:
        k += 1
    return round(2 ** (k / 2))


def bucket_length(n_kept: int, cfg) -> int:
    """Samples a cropped signal of `n_kept` samples is zero-padded to before its maps are computed.

    A signal longer than one key window (n_kept = Lk + (W - 1) Hk, `crop_length`) is padded to the
    `_bucket_windows(W)` windows: a folder of files of many lengths compiles one program per bucket (a few),
    not one per length, for at most ~41 % more samples. dsp.music_features' `valid_length` keeps the padding
    out of the track-global steps, so the maps of the real frames do not change. A signal of at most one key
    window (3-6 s) is its own single window (its chromagram's FFT size follows its length): kept as is.
    """
    if n_kept <= cfg.key_window_length:
        return n_kept
    return _windows_length(_bucket_windows(dsp.n_key_windows(int(n_kept), cfg)), cfg)


@functools.lru_cache(maxsize=8)
def _extractor(cfg, kinds: tuple[str, ...]):
    """One jitted function per (config, kinds) computing the maps a classifier needs from a zero-padded signal
    and its real length (a traced int: one program per padded length)."""
    def maps(x, valid_length):
        fns = {"music": lambda: dsp.music_features(x, cfg, valid_length=valid_length),
               "stft": lambda: dsp.stft_features(x, cfg)}  # per frame: padding past the crop changes no real frame
        return {k: fns[k]() for k in kinds}

    return jax.jit(maps)


def track_maps(x: np.ndarray, cfg, kinds: Sequence[str]) -> dict[str, np.ndarray]:
    """kind -> float32 [T, F] of one whole signal x float32 [n] at cfg.sample_rate, cropped like the cache.

    Crops to `crop_length` (the end of the last full key-clarity window) so the maps equal what the feature
    cache holds for the same audio (to float rounding: ~1e-7 relative). The cropped signal is zero-padded to
    `bucket_length` and the maps cut back to its T = dsp.n_frames(n_kept) frames, so each bucket of lengths
    compiles once.
    """
    x = np.asarray(x, np.float32)
    kept = crop_length(x.size, cfg)
    padded = np.zeros(bucket_length(kept, cfg), np.float32)
    padded[:kept] = x[:kept]
    t = dsp.n_frames(kept, cfg)
    maps = _extractor(cfg, tuple(sorted(kinds)))(padded, np.int32(kept))
    return {k: np.asarray(v)[:t] for k, v in maps.items()}


def cut_clips(maps: Mapping[str, np.ndarray], *, max_clips: int | None = None) -> dict[str, np.ndarray]:
    """kind -> float32 [n_clips, 128, F]: windows of 128 frames every 64 (`mgc_jax.data.clips.clip_starts`)."""
    n_frames = {k: v.shape[0] for k, v in maps.items()}
    if len(set(n_frames.values())) != 1:
        raise ValueError(f"feature maps of different lengths: {n_frames}")
    return clips_at(maps, clip_starts(next(iter(n_frames.values())), CLIP_FRAMES, CLIP_HOP, max_clips=max_clips))


# --- Long tracks, block by block ---------------------------------------------------------------------------------
# The maps of a whole track held at once cost ~48 KB of working memory per frame (7.4 GB for 60 min). A long track is
# computed in blocks of at most BLOCK_FRAMES frames instead, exactly: frames are local (1024 samples, hop 512) and
# HCDF looks one frame back, so a block is cut on the hop with one frame before its first row; the track-global
# steps of the music map (signal scale, roughness range, MinRMS reference, key-clarity range) come from a first,
# cheaper pass over the whole track (`track_context`: one STFT without the maps, and the key strengths of every 6 s
# window, 64 windows at a time), handed to each block as a `dsp.features.TrackContext`.
BLOCK_FRAMES = 8192  # frames per block (190 s at the defaults): ~0.4 GB of working memory for both maps
KEY_GROUP = 64  # key windows whose strengths are computed at once (3.3 min of audio)


class TrackContext(NamedTuple):
    """The whole-track values the blocks of one long track share (`track_context`)."""

    n_kept: int  # samples analysed (`crop_length`)
    n_frames: int  # T of the whole track
    scale: np.ndarray  # float32 [1]
    spec_min: np.float32
    spec_max: np.float32
    loudest: np.float32
    key_clarity: np.ndarray | None  # float32 [T] per frame; None when only the STFT map is wanted


def _bucket_frames(t: int) -> int:
    """Frames a block of t frames is zero-padded to: 128 x 4^k, at most BLOCK_FRAMES (one program per size)."""
    if t > BLOCK_FRAMES:
        raise ValueError(f"{t} frames exceed a block of {BLOCK_FRAMES}")
    b = 128
    while b < t:
        b *= 4
    return min(b, BLOCK_FRAMES)


def _segment(x: np.ndarray, t0: int, t1: int, cfg) -> np.ndarray:
    """Samples of frames t0..t1-1 of x, zero-padded to the bucket of t1 - t0 frames: float32 [n_bucket]."""
    n = (_bucket_frames(t1 - t0) - 1) * cfg.hop_length + cfg.frame_length
    seg = np.zeros(n, np.float32)
    part = x[t0 * cfg.hop_length: (t1 - 1) * cfg.hop_length + cfg.frame_length]
    seg[:part.size] = part
    return seg


@functools.partial(jax.jit, static_argnames="cfg")
def _window_strengths(x, cfg):
    """Key strengths float32 [W, 24] of the 6 s windows (3 s hop) of x, as `dsp.key_clarity` computes them."""
    chroma = dsp.signal_chromagram(x, cfg, frame_length=cfg.key_window_length, hop_length=cfg.key_hop_length)
    return dsp.key_strengths(chroma)


def track_context(x: np.ndarray, cfg, *, kinds: Sequence[str] = ("music", "stft")) -> TrackContext:
    """The first pass over a long track: its whole-track values (`dsp.features.TrackContext`), block by block.

    x: float32 [n] the whole signal (cropped here by `crop_length`). Memory: one block at a time. Only the signal
    scale is needed for the STFT map alone (it is per frame), so `kinds` without "music" skips the rest.
    """
    kept = crop_length(x.size, cfg)
    t = dsp.n_frames(kept, cfg)
    scale = np.asarray(peak_scale(jnp.asarray([_peak(x[:kept])])), np.float32)  # dsp's rule, from the peak alone
    if "music" not in kinds:
        return TrackContext(kept, t, scale, np.float32(0), np.float32(0), np.float32(0), None)
    lo, hi, loud = np.float32(np.inf), np.float32(-np.inf), np.float32(0)
    for t0 in range(0, t, BLOCK_FRAMES):
        t1 = min(t, t0 + BLOCK_FRAMES)
        stats = np.asarray(dsp.features.frame_statistics(_segment(x, t0, t1, cfg), scale, cfg))[:t1 - t0]
        lo, hi, loud = min(lo, stats[:, 0].min()), max(hi, stats[:, 1].max()), max(loud, stats[:, 2].max())
    if kept <= cfg.key_window_length:  # one window of all its samples (`dsp.key_windows`): short, done whole
        key = np.asarray(dsp.key_clarity_frames(dsp.key_clarity(x[:kept], cfg), t, cfg), np.float32)
        return TrackContext(kept, t, scale, np.float32(lo), np.float32(hi), np.float32(loud), key)
    n_windows = dsp.n_key_windows(kept, cfg)
    strengths = np.zeros((n_windows, 24), np.float32)
    span = cfg.key_window_length + (KEY_GROUP - 1) * cfg.key_hop_length
    for w0 in range(0, n_windows, KEY_GROUP):
        seg = np.zeros(span, np.float32)
        part = x[w0 * cfg.key_hop_length: min(kept, w0 * cfg.key_hop_length + span)]
        seg[:part.size] = part
        w1 = min(n_windows, w0 + KEY_GROUP)
        strengths[w0:w1] = np.asarray(_window_strengths(seg, cfg))[:w1 - w0]
    kc = dsp.clarity_from_strengths(strengths, contrast=cfg.key_contrast)
    key = np.asarray(dsp.key_clarity_frames(kc, t, cfg), np.float32)
    return TrackContext(kept, t, scale, np.float32(lo), np.float32(hi), np.float32(loud), key)


def _peak(x: np.ndarray, chunk: int = 1 << 22) -> np.float32:
    """max |x| over the finite samples (non-finite ones read as 0, as in the maps), a chunk at a time: no
    whole-signal temporaries."""
    peak = np.float32(0)
    for i in range(0, x.size, chunk):
        a = np.abs(x[i:i + chunk])
        peak = max(peak, np.float32(np.max(a, where=np.isfinite(a), initial=0)))
    return peak


@functools.lru_cache(maxsize=8)
def _block_fn(cfg, kinds: tuple[str, ...]):
    """One jitted program per (config, kinds, bucket): the wanted maps of a block and its undefined values."""
    def maps(x, context):
        out = dsp.features.block_maps(x, context, cfg)
        return {k: out[k] for k in kinds}, (out["music_undefined"] if "music" in kinds else None)

    return jax.jit(maps)


def block_rows(x: np.ndarray, ctx: TrackContext, cfg, kinds: Sequence[str], t0: int, t1: int):
    """Rows t0..t1-1 (t1 - t0 <= BLOCK_FRAMES - 1) of the track's maps: (kind -> float32 [t1 - t0, F], undefined
    counts int64 [8] of those rows, all 0 without the music map), equal to the whole track's rows."""
    a = max(t0 - 1, 0)  # HCDF looks one frame back
    seg = _segment(x, a, t1, cfg)
    n = _bucket_frames(t1 - a)
    key = np.zeros(n, np.float32)
    if ctx.key_clarity is not None:
        key[:t1 - a] = ctx.key_clarity[a:t1]
    context = dsp.features.TrackContext(ctx.scale, ctx.spec_min, ctx.spec_max, ctx.loudest, key)
    maps, undefined = _block_fn(cfg, tuple(sorted(kinds)))(seg, context)
    rows = slice(t0 - a, t1 - a)
    counts = np.zeros(len(dsp.FEATURE_NAMES), np.int64) if undefined is None else \
        np.asarray(undefined)[rows].sum(axis=0)
    return {k: np.asarray(v)[rows] for k, v in maps.items()}, counts


def track_maps_blockwise(x: np.ndarray, cfg, kinds: Sequence[str], *, out: Mapping | None = None):
    """`track_maps` of a track of any length, block by block: (kind -> float32 [T, F], undefined counts [8]).

    Equal to `track_maps` (and to what the feature cache holds) to float rounding; the working memory is one
    block's (~0.4 GB) plus the maps themselves: pass `out` (kind -> a writable [T, F] array, e.g. a
    `np.lib.format.open_memmap`) to write them there instead of holding them.
    """
    x = np.asarray(x, np.float32)
    ctx = track_context(x, cfg, kinds=kinds)
    out = {k: np.zeros((ctx.n_frames, _width(k, cfg)), np.float32) for k in kinds} if out is None else out
    counts = np.zeros(len(dsp.FEATURE_NAMES), np.int64)
    step = BLOCK_FRAMES - 1
    for t0 in range(0, ctx.n_frames, step):
        t1 = min(ctx.n_frames, t0 + step)
        maps, c = block_rows(x, ctx, cfg, kinds, t0, t1)
        for k, v in maps.items():
            out[k][t0:t1] = v
        counts += c
    return out, counts


def _width(kind: str, cfg) -> int:
    return len(dsp.FEATURE_NAMES) if kind == "music" else cfg.n_bins


def track_clips(x: np.ndarray, cfg, kinds: Sequence[str], starts: np.ndarray):
    """Yield kind -> float32 [n, 128, F], the clips starting at the frames `starts` (ascending), a block at a time.

    Only the rows the clips cover are computed (plus the first pass, `track_context`, over the whole track), so a
    few clips of a long file cost a few blocks. A track of at most BLOCK_FRAMES frames is computed whole
    (`track_maps`, whose length buckets keep compilations few).
    """
    x = np.asarray(x, np.float32)
    starts = np.asarray(starts, np.int64)
    if starts.size == 0:
        return
    if np.any(np.diff(starts) < 0):
        raise ValueError("clip starts must be ascending")
    if dsp.n_frames(crop_length(x.size, cfg), cfg) <= BLOCK_FRAMES:
        yield clips_at(track_maps(x, cfg, kinds), starts)
        return
    ctx = track_context(x, cfg, kinds=kinds)
    i = 0
    while i < starts.size:
        j = i + 1  # clips i..j-1 share one block: their rows span at most BLOCK_FRAMES - 1 frames
        while j < starts.size and starts[j] + CLIP_FRAMES - starts[i] <= BLOCK_FRAMES - 1:
            j += 1
        t0, t1 = int(starts[i]), int(starts[j - 1]) + CLIP_FRAMES
        maps, _ = block_rows(x, ctx, cfg, kinds, t0, t1)
        yield clips_at(maps, starts[i:j] - t0)
        i = j


def clips_at(maps: Mapping[str, np.ndarray], starts: np.ndarray) -> dict[str, np.ndarray]:
    """kind -> float32 [n_clips, 128, F]: the 128-frame windows of `maps` starting at `starts` (int [n_clips])."""
    idx = np.asarray(starts, np.int64)[:, None] + np.arange(CLIP_FRAMES)[None, :]  # [n_clips, 128]
    return {k: np.ascontiguousarray(v[idx], np.float32) for k, v in maps.items()}
