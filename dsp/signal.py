"""What a `dsp` kernel accepts as a signal, checked in one place, and the scale helpers that keep float32 in range.

`as_signal` runs at every public entry point that takes samples (signals or frames) before anything is traced:
a Python list given to a jitted function would otherwise be traced as thousands of scalar arguments (3,000
floats compiled for 3 minutes). `as_values` does the same for spectra and key strengths, without PCM scaling.

Input rules (the same as `mgc_jax.data.audio.load` where they overlap):
- Python lists / tuples / NumPy / JAX arrays of real numbers are converted to float32 (a list of Python ints
  is read as numbers, not PCM).
- Integer PCM is scaled to [-1, 1] as soundfile reads it: int8 / 128, int16 / 32768, int32 / 2^31, uint8
  (8-bit WAV, offset binary) (x - 128) / 128. Other integer types (int64, uint16, ...) are refused: no audio
  format stores them, so their scale is unknown. Bool and complex input are refused.
- Non-finite samples (NaN, ±Inf) are refused with a `SignalError` when the array is concrete (eager calls).
  Under `jax.jit` / `vmap` the values are unknown at trace time and cannot be refused: the track-level kernels
  then read each non-finite sample as 0 (`finite_samples`), and the music map also marks every frame that held
  one as undefined (0 in all eight columns, counted in the nan counts; `dsp.features`). No kernel returns NaN.

Scale (`peak_scale`): features are computed on x / s with s the power of two at the track's peak, and the
homogeneous ones are scaled back (rms and the STFT by s, roughness by s²). Powers of two scale float32 exactly,
so results are unchanged for ordinary audio, and a signal x 1e20 or x 1e-20 gives the same features as x
(times s^k) instead of overflowing squares (|X|² of x 1e20 is 1e46 > float32's 3.4e38) or underflowing to 0.
The limit left is float32's range for the result itself: roughness of a full-scale track (1e2-1e5 |FFT|²
units) times s² overflows once the peak exceeds ~1e16; such a value is reported undefined (0, counted).

Public:
    SignalError
    as_signal(x, *, name) -> float32 array     (dsp.as_signal)
    as_values(x, *, name) -> float32 array
    finite_samples(x) -> (float32, bool)       traced repair: non-finite samples -> 0, and where they were
    peak_scale(x, *, axis) -> float32          power of two s with max |x| / s in [1, 2) (1 for silence)
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dsp.config import ConfigError

# soundfile's float scaling of integer PCM: (offset, divisor), float = (int - offset) / divisor.
PCM_SCALE = {
    np.dtype(np.int8): (0, 2.0**7),
    np.dtype(np.int16): (0, 2.0**15),
    np.dtype(np.int32): (0, 2.0**31),
    np.dtype(np.uint8): (128, 2.0**7),
}


class SignalError(ConfigError):
    """An input array that a `dsp` kernel refuses: wrong type (bool, complex, unknown integer PCM) or non-finite."""


def as_signal(x, *, name: str) -> jax.Array:
    """Audio samples (signals or frames) as float32, integer PCM scaled to [-1, 1], refusing what has no meaning.

    Args:
        x: [..., n] samples: a JAX or NumPy array, a Python list / tuple of numbers, or a tracer (under jit / vmap).
        name: the calling kernel, named in every error.

    Returns:
        float32 [..., n] (a JAX array; a tracer stays a tracer).

    Raises:
        SignalError: no samples (a scalar, or an empty last axis); bool, complex or non-PCM integer dtype; ragged
            or non-numeric lists; and, for concrete input, any NaN / ±Inf sample or a float64 value beyond
            float32's range.

    Examples:
        >>> import numpy as np
        >>> as_signal(np.array([0, 16384, -32768], np.int16), name="demo").tolist()
        [0.0, 0.5, -1.0]
        >>> as_signal([0.25, -0.5], name="demo").dtype
        dtype('float32')
    """
    x = _as_array(x, name)
    shape = np.shape(x)  # static, also for a tracer
    if not shape:
        raise SignalError(f"{name}: a scalar, not samples; a signal or frame is an array [..., n] with n >= 1")
    if shape[-1] == 0:
        raise SignalError(f"{name}: 0 samples (shape {tuple(shape)}); a signal or frame needs at least one along "
                          "its last axis")
    dtype = np.dtype(x.dtype)
    if jnp.issubdtype(dtype, jnp.integer):
        if dtype not in PCM_SCALE:
            raise SignalError(
                f"{name}: integer samples of dtype {dtype} are not a PCM format (int8, int16, int32 or uint8); "
                "convert them to float in [-1, 1]")
        offset, divisor = PCM_SCALE[dtype]
        return (jnp.asarray(x, jnp.float32) - offset) / jnp.float32(divisor)
    return _finite_float32(x, name)


def as_values(x, *, name: str) -> jax.Array:
    """Non-signal real input (magnitude spectra, key strengths) as float32: no PCM scaling, same refusals."""
    return _finite_float32(_as_array(x, name), name)


def _as_array(x, name: str):
    if isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x)
        except ValueError as e:  # ragged nesting
            raise SignalError(f"{name}: a list that is not a rectangular array of numbers ({e})") from None
        if x.dtype == object or x.dtype.kind in "USV":
            raise SignalError(f"{name}: a list of {x.dtype} values, expected numbers")
        if x.dtype.kind in "iu":  # Python ints carry no PCM width: read them as plain numbers
            x = x.astype(np.float64)
    elif not isinstance(x, (jax.Array, np.ndarray)) and not np.isscalar(x):
        raise SignalError(f"{name}: expected an array of samples, got {type(x).__name__}")
    dtype = np.dtype(jnp.result_type(x))
    if dtype == np.bool_:
        raise SignalError(f"{name}: bool samples have no amplitude; pass float samples in [-1, 1]")
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise SignalError(f"{name}: complex samples; audio is real (pass the real part, or |x|, explicitly)")
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise SignalError(f"{name}: samples of dtype {dtype}, expected float or integer PCM")
    return x


def _finite_float32(x, name: str) -> jax.Array:
    if isinstance(x, jax.core.Tracer):
        return jnp.asarray(x, jnp.float32)
    if isinstance(x, jax.Array):  # checked where it lives: no copy to the host unless it is refused
        out = jnp.asarray(x, jnp.float32)
        if bool(jnp.all(jnp.isfinite(out))):
            return out
    host = np.asarray(x)
    finite = np.isfinite(host)
    if not finite.all():
        bad = np.flatnonzero(~finite.reshape(-1))
        n_nan = int(np.isnan(host).sum())
        raise SignalError(
            f"{name}: {bad.size} non-finite samples ({n_nan} NaN, {bad.size - n_nan} Inf; first at flat index "
            f"{bad[0]}); remove or replace them (under jit they would be read as 0)")
    if host.dtype.itemsize > 4 and host.size and np.abs(host).max() > np.finfo(np.float32).max:
        raise SignalError(f"{name}: values beyond float32's range (peak |x| = {np.abs(host).max():.3g} > 3.4e38)")
    return jnp.asarray(host, jnp.float32)


def finite_samples(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(x with each NaN / ±Inf sample replaced by 0, bool mask of the finite samples): the traced-input rule."""
    ok = jnp.isfinite(x)
    return jnp.where(ok, x, 0), ok


def peak_scale(x: jax.Array, *, axis=-1) -> jax.Array:
    """Power of two s with max |x| / s in [1, 2) over `axis` (kept, size 1); 1 for all-zero x.

    Built from its exponent bits, so x / s and y * s are exact in float32 (no rounding, unless the result leaves
    the normal range). The exponent is clipped to [-126, 126] (normal floats whose reciprocal is normal too).
    Constant under differentiation (a step function of x): gradients flow through x / s and y * s as through
    any fixed scale.
    """
    peak = jnp.max(jnp.abs(x), axis=axis, keepdims=True)
    _, e = jnp.frexp(peak)  # peak = m 2^e, m in [0.5, 1); frexp(0) = (0, 0)
    e = jnp.where(peak > 0, jnp.clip(e.astype(jnp.int32) - 1, -126, 126), 0)
    s = jax.lax.bitcast_convert_type(jnp.left_shift(e + 127, 23), jnp.float32)
    return jax.lax.stop_gradient(s)
