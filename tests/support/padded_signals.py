"""Signals for the length buckets of mgc_jax.data.maps and dsp's `valid_length=`: lengths counted in key-clarity
windows, and chords whose loud end lies past the last full frame (only a padded signal's extra frames see it)."""
from __future__ import annotations

import numpy as np

import dsp

CFG = dsp.FeatureConfig()
SR = CFG.sample_rate


def kept(windows: int) -> int:
    """Samples of a crop that holds exactly `windows` key-clarity windows."""
    return CFG.key_window_length + (windows - 1) * CFG.key_hop_length


def chords_with_a_loud_end(n: int, seed: int) -> np.ndarray:
    """Key-centred chords over noise, the last 300 samples a full-scale burst: the burst lies past the last full
    frame, so only a padded signal's extra frames see all of it (their spectra outweigh every real frame's)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    freqs = (261.6, 329.6, 392.0) if seed % 2 else (220.0, 261.6, 329.6)
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 8 + 0.01 * rng.standard_normal(n)
    x[-300:] = 0.95 * np.sign(rng.standard_normal(300))
    return x.astype(np.float32)


def assert_close_per_column(got, want, tol=1e-5):
    """Each column within tol of its largest |value| (the columns differ by 1e5 in scale)."""
    scale = np.maximum(np.abs(want).max(0), 1e-12)
    worst = (np.abs(got - want).max(0) / scale)
    assert (worst <= tol).all(), worst


def real_clip():
    """The first `kept(5)` samples of the first ../shared GTZAN dev clip, or None where it is absent."""
    from conftest import SHARED

    from mgc_jax.data import audio

    paths = sorted((SHARED / "gtzan_dev").glob("*/*.au")) if SHARED.is_dir() else []
    return audio.load(paths[0])[: kept(5)] if paths else None
