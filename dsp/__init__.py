"""Pure JAX DSP kernels for the eight MIRToolbox music features and the STFT map.

Every kernel is a pure function of arrays plus a static `FeatureConfig`; it jits, and
`jax.vmap` over a batch of equal-length signals gives the same result as a Python loop.
Definitions: FEATURES_SPEC.md (MIRToolbox 1.6.2, with the paper's 1024/512 framing).

Configuration
    FeatureConfig, FEATURE_NAMES, ConfigError, n_frames, n_key_windows
Framing and spectrum (framing.py)
    frame, hamming_window, stft_magnitude
Frame and spectral features (spectral.py)
    rms, zero_crossing_rate, brightness, spectral_flatness, spectral_entropy, min_rms_trim
Peaks and roughness (peaks.py, roughness.py)
    spectral_peaks, sethares_dissonance, roughness
Tonality (chroma.py, key.py, tonal.py)
    chromagram, key_strengths, key_clarity, key_clarity_frames, GOMEZ_PROFILES, tonal_centroid, hcdf
Feature maps (features.py)
    music_features, music_features_with_nan_counts, stft_features
"""
from dsp.config import FEATURE_NAMES, ConfigError, FeatureConfig, n_frames, n_key_windows
from dsp.framing import frame, hamming_window, stft_magnitude
from dsp.spectral import brightness, min_rms_trim, rms, spectral_entropy, spectral_flatness, zero_crossing_rate
from dsp.peaks import spectral_peaks
from dsp.roughness import roughness, sethares_dissonance
from dsp.chroma import chromagram
from dsp.key import GOMEZ_PROFILES, key_clarity, key_clarity_frames, key_strengths
from dsp.tonal import hcdf, tonal_centroid
from dsp.features import music_features, music_features_with_nan_counts, stft_features

__all__ = [
    "FEATURE_NAMES", "ConfigError", "FeatureConfig", "n_frames", "n_key_windows",
    "frame", "hamming_window", "stft_magnitude",
    "rms", "zero_crossing_rate", "brightness", "spectral_flatness", "spectral_entropy", "min_rms_trim",
    "spectral_peaks", "sethares_dissonance", "roughness",
    "chromagram", "key_strengths", "key_clarity", "key_clarity_frames", "GOMEZ_PROFILES",
    "tonal_centroid", "hcdf",
    "music_features", "music_features_with_nan_counts", "stft_features",
]
