"""A NumPy stand-in for `mgc_jax.data.extraction.batch_maps` (the jitted feature maps of a batch): maps of the real
shapes in milliseconds, so tests of the cache, corpus, training and launch bookkeeping skip the DSP cost.

`install(monkeypatch, values)` puts a `FakeMaps` in place of `extraction.batch_maps` and returns it.
`values` says what the maps hold:

- "zeros" / "ones": constant maps (only the shapes matter);
- "level": each hop's RMS (float64, rounded once to float32, so a track gets the same values in any batch) in
  every column of both maps;
- "spectrum": each frame's RMS (music) and |rfft| (stft) over the real 1024-sample frames, so classes of
  different signals get different maps.

The nan counts are zeros, or `nan_counts` (8 ints) for every track. `noise_track` / `noise_tracks` write short
noise tracks to extract.
"""
from __future__ import annotations

import pathlib

import numpy as np
import soundfile as sf

import dsp
from mgc_jax.data.track import Track

VALUES = ("zeros", "ones", "level", "spectrum")


class FakeMaps:
    """`(x float32 [B, n], cfg) -> {"music": [B, T, 8], "music_nan_counts": int32 [B, 8], "stft": [B, T, n_bins]}`,
    as `extraction.batch_maps` returns; `.shapes` lists each batch's shape."""

    def __init__(self, values: str = "zeros", nan_counts=None):
        if values not in VALUES:
            raise ValueError(f"values={values!r}: expected one of {VALUES}")
        self.values, self.nan_counts, self.shapes = values, nan_counts, []

    def __call__(self, x, cfg) -> dict[str, np.ndarray]:
        music, nans, stft = self._maps(np.asarray(x), cfg)
        return {"music": music, "music_nan_counts": nans, "stft": stft}

    def _maps(self, x, cfg):
        self.shapes.append(x.shape)
        b, t = len(x), dsp.n_frames(x.shape[1], cfg)
        nans = np.zeros((b, 8), np.int32) if self.nan_counts is None else np.tile(
            np.asarray(self.nan_counts, np.int32), (b, 1))
        if self.values in ("zeros", "ones"):
            fill = np.zeros if self.values == "zeros" else np.ones
            return fill((b, t, 8), np.float32), nans, fill((b, t, cfg.n_bins), np.float32)
        if self.values == "level":
            hops = np.asarray(x, np.float64)[:, : t * cfg.hop_length].reshape(b, t, -1)
            rms = np.sqrt(np.mean(np.square(hops), -1))[..., None]
            return (np.repeat(rms, 8, -1).astype(np.float32), nans,
                    np.repeat(rms, cfg.n_bins, -1).astype(np.float32))
        idx = np.arange(cfg.frame_length)[None, :] + cfg.hop_length * np.arange(t)[:, None]
        frames = x[:, idx]  # [B, T, frame_length]
        stft = np.abs(np.fft.rfft(frames, n=cfg.n_fft, axis=-1)).astype(np.float32)
        music = np.repeat(np.sqrt((frames ** 2).mean(-1))[..., None], 8, axis=-1).astype(np.float32)
        return music, nans, stft


def install(monkeypatch, values: str = "zeros", nan_counts=None) -> FakeMaps:
    """Replace `extraction.batch_maps` by a `FakeMaps(values, nan_counts)` for this test; returns it."""
    from mgc_jax.data import extraction

    fake = FakeMaps(values, nan_counts)
    monkeypatch.setattr(extraction, "batch_maps", fake)
    return fake


def noise_track(path: pathlib.Path, seconds: float, seed: int = 0, rate: int = 22050) -> Track:
    """16-bit white noise (level 0.1) of `seconds` at `path` (named `<genre>.<n>.<ext>`): its Track."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))
    sf.write(path, x, rate, subtype="PCM_16")
    genre, _ = path.name.split(".", 1)
    return Track(path.name.rsplit(".", 1)[0], genre, str(path))


def noise_tracks(root, lengths=(7.0, 7.0, 7.0, 9.5)) -> list[Track]:
    """`root/blues/blues.0000i.wav`, one noise track of each length in seconds."""
    return [noise_track(root / "blues" / f"blues.{i:05d}.wav", s, seed=i) for i, s in enumerate(lengths)]
