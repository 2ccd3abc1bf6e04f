"""One track's feature maps as the nets see them: the crop rule, length buckets, the maps and their clips.

The feature cache, online training, inference and saliency all crop a signal to the end of its last full
key-clarity window (`crop_length`) and cut 128-frame clips every 64 frames (`cut_clips`), so a file's maps
equal its cached ones.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import numpy as np

import dsp
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
    starts = clip_starts(next(iter(n_frames.values())), CLIP_FRAMES, CLIP_HOP, max_clips=max_clips)
    idx = starts[:, None] + np.arange(CLIP_FRAMES)[None, :]  # [n_clips, 128]
    return {k: np.ascontiguousarray(v[idx], np.float32) for k, v in maps.items()}
