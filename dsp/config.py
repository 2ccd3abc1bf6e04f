"""Feature configuration: one frozen, hashable dataclass for every `dsp` kernel.

`FeatureConfig` is passed to jitted kernels as a *static* argument, so every field is a plain
Python scalar or string and every derived size is a `@property` computed with Python ints
(never traced). Values follow docs/features.md §0-§1 and the ratified decisions of §6.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers

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
        # Each field is checked by name, in field order, and normalised (numpy scalars and ints given for floats
        # become plain int / float) so equal configs compare and hash equal: FeatureConfig(brightness_cutoff_hz=1500)
        # is the default's cache, not a second one.
        for name in _INT_FIELDS:
            object.__setattr__(self, name, _int_field(name, getattr(self, name)))
        for name in _FLOAT_FIELDS:
            object.__setattr__(self, name, _float_field(name, getattr(self, name)))
        nyquist = self.sample_rate / 2
        _require(self, [
            ("sample_rate", self.sample_rate >= 1, "must be >= 1 Hz"),
            ("frame_length", self.frame_length >= 2, "must be >= 2 samples"),
            ("hop_length", self.hop_length >= 1, "must be >= 1 sample"),
            ("window", self.window == "hamming", "only the symmetric 'hamming' window is implemented"),
            ("brightness_cutoff_hz", 0 < self.brightness_cutoff_hz < nyquist,
             f"must be in (0, {nyquist:g}) Hz, below the Nyquist frequency of sample_rate={self.sample_rate} (at "
             "or above it every frame's brightness is 0)"),
            *[(name, 0 <= getattr(self, name) < 1, "must be in [0, 1): a fraction of the track's largest RMS")
              for name in ("min_rms_brightness", "min_rms_flatness", "min_rms_entropy")],
            ("roughness_contrast", 0 <= self.roughness_contrast < 1,
             "must be in [0, 1): a peak's height over its neighbouring valleys, relative to the range"),
            ("max_peaks", self.max_peaks >= 1, "must be >= 1"),
            ("key_window_s", self.key_window_length >= 2,
             f"must be > 0 s and span >= 2 samples at sample_rate={self.sample_rate}"),
            ("key_hop_s", self.key_hop_length >= 1,
             f"must be > 0 s and span >= 1 sample at sample_rate={self.sample_rate}"),
            ("key_contrast", 0 <= self.key_contrast < 1,
             "must be in [0, 1): a key strength's height over its neighbouring valleys, relative to the range"),
            ("chroma_scale", self.chroma_scale in ("db20", "linear"), "expected 'db20' or 'linear'"),
        ])

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


_INT_FIELDS = ("sample_rate", "frame_length", "hop_length", "max_peaks")
_FLOAT_FIELDS = ("brightness_cutoff_hz", "min_rms_brightness", "min_rms_flatness", "min_rms_entropy",
                 "roughness_contrast", "key_window_s", "key_hop_s", "key_contrast")


def _int_field(name: str, value):
    """A plain int, or ConfigError naming the field (a bool, a float such as 1024.0 or 22050.5, a string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"FeatureConfig.{name}={value!r}: must be an int, got {type(value).__name__}")
    return int(value)


def _float_field(name: str, value):
    """A plain finite float, or ConfigError naming the field (a bool, a string, inf, nan)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"FeatureConfig.{name}={value!r}: must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ConfigError(f"FeatureConfig.{name}={value!r}: must be finite")
    return float(value)


def _require(cfg: FeatureConfig, checks) -> None:
    """ConfigError "FeatureConfig.<field>=<value>: <why>" for the first (field, ok, why) with ok False."""
    for name, ok, why in checks:
        if not ok:
            raise ConfigError(f"FeatureConfig.{name}={getattr(cfg, name)!r}: {why}")


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

