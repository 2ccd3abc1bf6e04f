"""Pure JAX DSP kernels for the eight MIRToolbox music features and the STFT map.

Every kernel is a pure function of arrays plus a static `FeatureConfig`; it jits, and
`jax.vmap` over a batch of equal-length signals gives the same result as a Python loop.
Definitions: docs/features.md (MIRToolbox 1.6.2, with the paper's 1024/512 framing).

Configuration (config.py)
    FeatureConfig, FEATURE_NAMES, ConfigError, n_frames, n_key_windows
Input (signal.py): every entry point converts its samples with as_signal (lists, integer PCM, refusals)
    as_signal, SignalError
Framing and spectrum (framing.py)
    frame, hamming_window, stft_magnitude, magnitude_spectrum, windowed_rfft
Frame and spectral features (spectral.py)
    rms, zero_crossing_rate, brightness, spectral_flatness, spectral_entropy, min_rms_trim
Peaks and roughness (peaks.py, roughness.py)
    spectral_peaks, sethares_dissonance, roughness
Tonality (chroma.py, key.py, tonal.py)
    chromagram, signal_chromagram, chromagram_from_spectrum, key_strengths, key_clarity, key_clarity_frames,
    clarity_from_strengths, GOMEZ_PROFILES, KEY_NAMES, tonal_centroid, harmonic_change, hcdf, hcdf_from_spectrum
Feature maps (features.py)
    music_features, music_features_with_nan_counts, stft_features, feature_maps
Gradients (autodiff.py, internal): the differentiation rule of the fast batched wrappers (jax.grad, jvp and
    vjp work through every function above, under jit and vmap), safe_sqrt
"""
from dsp.config import FEATURE_NAMES, ConfigError, FeatureConfig, n_frames, n_key_windows
from dsp.signal import SignalError, as_signal
from dsp.framing import frame, hamming_window, magnitude_spectrum, stft_magnitude, windowed_rfft
from dsp.spectral import brightness, min_rms_trim, rms, spectral_entropy, spectral_flatness, zero_crossing_rate
from dsp.peaks import spectral_peaks
from dsp.roughness import roughness, sethares_dissonance
from dsp.chroma import chromagram, chromagram_from_spectrum, signal_chromagram
from dsp.key import GOMEZ_PROFILES, KEY_NAMES, clarity_from_strengths, key_clarity, key_clarity_frames, key_strengths
from dsp.tonal import harmonic_change, hcdf, hcdf_from_spectrum, tonal_centroid
from dsp.features import feature_maps, music_features, music_features_with_nan_counts, stft_features

__all__ = [
    "FEATURE_NAMES", "ConfigError", "FeatureConfig", "n_frames", "n_key_windows", "SignalError", "as_signal",
    "frame", "hamming_window", "stft_magnitude", "magnitude_spectrum", "windowed_rfft",
    "rms", "zero_crossing_rate", "brightness", "spectral_flatness", "spectral_entropy", "min_rms_trim",
    "spectral_peaks", "sethares_dissonance", "roughness",
    "chromagram", "signal_chromagram", "chromagram_from_spectrum",
    "key_strengths", "key_clarity", "key_clarity_frames", "clarity_from_strengths", "GOMEZ_PROFILES", "KEY_NAMES",
    "tonal_centroid", "harmonic_change", "hcdf", "hcdf_from_spectrum",
    "music_features", "music_features_with_nan_counts", "stft_features", "feature_maps",
]
