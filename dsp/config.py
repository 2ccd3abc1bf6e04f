"""Feature configuration: one frozen, hashable dataclass for every `dsp` kernel.

`FeatureConfig` is passed to jitted kernels as a *static* argument, so every field is a plain
Python scalar or string and every derived size is a `@property` computed with Python ints
(never traced). Values follow docs/features.md §0-§1 and the ratified decisions of §6.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import math
import pathlib

FEATURE_NAMES = ("rms", "zcr", "brightness", "flatness", "entropy", "roughness", "key_clarity", "hcdf")
"""Column order of the [T, 8] music feature map (docs/features.md §1.9)."""


class ConfigError(ValueError):
    """A `FeatureConfig` value or a signal size that the kernels cannot work with."""


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Static configuration of the feature extractor (MIRToolbox 1.6.2 defaults, paper framing)."""

    sample_rate: int = 22050  # Hz; audio is resampled to this before extraction
    frame_length: int = 1024  # samples per analysis frame (46.44 ms), the paper's L
    hop_length: int = 512  # samples between frame starts (50 %), the paper's H
    window: str = "hamming"  # symmetric Hamming, MATLAB window(@hamming, L); the only window supported
    brightness_cutoff_hz: float = 1500.0  # D1: MIRToolbox default; the paper's "15 kHz" is above Nyquist
    min_rms_brightness: float = 0.005  # MinRMS trim of mirbrightness (fraction of the track's max spectral RMS)
    min_rms_flatness: float = 0.01  # MinRMS trim of mirflatness
    min_rms_entropy: float = 0.005  # MinRMS trim of mirentropy
    roughness_contrast: float = 0.01  # mirpeaks 'Contrast' used by mirroughness
    max_peaks: int = 128  # fixed peak buffer per frame; real GTZAN frames carry up to ~105 peaks
    key_window_s: float = 6.0  # key-clarity analysis window (paper §2.2)
    key_hop_s: float = 3.0  # key-clarity window hop (50 % overlap)
    key_contrast: float = 0.1  # mirpeaks 'Contrast' used by mirkey on the key strengths
    chroma_scale: str = "db20"  # D16: 'db20' = MIRToolbox 1.6.2 (the paper's), 'linear' = MIRToolbox since 2021-07

    def __post_init__(self):
        if self.window != "hamming":
            raise ConfigError(f"window={self.window!r}: only the symmetric 'hamming' window is implemented")
        if self.chroma_scale not in ("db20", "linear"):
            raise ConfigError(f"chroma_scale={self.chroma_scale!r}: expected 'db20' or 'linear'")
        if self.frame_length < 2 or self.hop_length < 1:
            raise ConfigError(f"frame_length={self.frame_length}, hop_length={self.hop_length}: must be >= 2 and >= 1")
        if self.max_peaks < 1:
            raise ConfigError(f"max_peaks={self.max_peaks}: must be >= 1")
        if not 0 < self.brightness_cutoff_hz:
            raise ConfigError(f"brightness_cutoff_hz={self.brightness_cutoff_hz}: must be > 0")

    # Derived static sizes (Python ints, safe as shapes under jit).
    @property
    def n_fft(self) -> int:
        """FFT size: 2^nextpow2(max(L, fs / MinRes)) with MIRToolbox's MinRes = 66 Hz (1024 here)."""
        return 1 << math.ceil(math.log2(max(self.frame_length, self.sample_rate / 66.0)))

    @property
    def n_bins(self) -> int:
        """Number of rfft bins kept (513 here)."""
        return self.n_fft // 2 + 1

    @property
    def key_window_length(self) -> int:
        """Key-clarity window in samples (132300 here)."""
        return int(round(self.key_window_s * self.sample_rate))

    @property
    def key_hop_length(self) -> int:
        """Key-clarity hop in samples (66150 here)."""
        return int(round(self.key_hop_s * self.sample_rate))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown FeatureConfig fields {unknown}")
        return cls(**d)

    def hash(self) -> str:
        """Stable 12-hex-digit hash of all fields: names feature caches and checks checkpoints."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def n_frames(n_samples: int, cfg: FeatureConfig) -> int:
    """Frames of a signal of `n_samples` (no centre padding): 1 + (n - L) // H, 0 if shorter than L.

    The one home of the framing formula (MIRToolbox mirframe: floor((n - L) / H) + 1).

    Examples:
        >>> n_frames(661500, FeatureConfig())  # a 30 s GTZAN track
        1290
        >>> n_frames(1000, FeatureConfig())  # shorter than one 1024-sample frame
        0
    """
    if not isinstance(n_samples, int):
        raise ConfigError(f"n_samples must be a concrete Python int, got {type(n_samples).__name__}")
    if n_samples < cfg.frame_length:
        return 0
    return 1 + (n_samples - cfg.frame_length) // cfg.hop_length


def n_key_windows(n_samples: int, cfg: FeatureConfig) -> int:
    """Key-clarity windows of a signal: 1 + (n - Lk) // Hk (9 for 30 s); 1 when shorter than one window.

    A signal shorter than one 6 s window is analysed as a single window over the whole signal.

    Examples:
        >>> n_key_windows(661500, FeatureConfig()), n_key_windows(22050, FeatureConfig())
        (9, 1)
    """
    if not isinstance(n_samples, int):
        raise ConfigError(f"n_samples must be a concrete Python int, got {type(n_samples).__name__}")
    if n_samples <= cfg.key_window_length:
        return 1
    return 1 + (n_samples - cfg.key_window_length) // cfg.key_hop_length


@functools.lru_cache(maxsize=4)
def code_hash(package_dir: str | pathlib.Path | None = None) -> str:
    """12-hex-digit hash of what the dsp package's code does: with `FeatureConfig.hash()` it names what made a
    feature map (feature caches and run configs record both).

    Each dsp/*.py (of `package_dir`, default this package) is parsed and hashed as its syntax tree without line
    numbers, docstrings or other bare string statements (comments never reach the tree), so an edit to a
    comment, a docstring or the layout keeps the hash, while any change to code (a constant, an operator, a
    renamed variable) changes it. A Python upgrade that changes the tree's form changes it too (then the maps
    are extracted again: a cost, never a wrong map).
    """
    directory = pathlib.Path(__file__).parent if package_dir is None else pathlib.Path(package_dir)
    h = hashlib.sha256()
    for path in sorted(directory.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list):
                kept = [b for b in body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)
                                                and isinstance(b.value.value, str))]
                node.body = kept or [ast.Pass()]
        h.update(path.name.encode() + b"\0" + ast.dump(tree, include_attributes=False).encode() + b"\0")
    return h.hexdigest()[:12]
