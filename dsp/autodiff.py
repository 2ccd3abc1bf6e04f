"""Differentiation rules for the `dsp` kernels: a JVP for the fast batching wrappers and a sqrt safe at zero.

The maps and the peak picker are wrapped in `jax.custom_batching.custom_vmap` so that a `jax.vmap` over tracks
runs them one after another (or as leading axes) instead of batching every op (dsp/features.py, dsp/peaks.py).
`custom_vmap` has no differentiation rule of its own, so `differentiable_as` puts a `jax.custom_jvp` around it
whose tangent is the JVP of the same computation written without the wrapper. `jax.grad` and `jax.vjp` follow
from the JVP (it is linear in the tangent), under `jit` and `vmap` alike.

Public (inside dsp):
    differentiable_as(fast, plain) -> fast, differentiable with plain's JVP
    safe_sqrt(x) -> sqrt(x), derivative 0 (not inf) at x = 0
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _is_float(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _zero_tangent(x):
    """The tangent of a non-differentiable (int / bool) output: float0 zeros of its shape."""
    return np.zeros(jnp.shape(x), dtype=jax.dtypes.float0)


def differentiable_as(fast, plain):
    """`fast` (a one-argument function of an array) with the JVP of `plain`, which computes the same values.

    Args:
        fast: x -> pytree of arrays; typically a `custom_vmap` wrapper, whose batching rule is what we want to keep
            for the primal computation, but which JAX cannot differentiate.
        plain: x -> the same pytree, written with ordinary (differentiable) JAX ops; its JVP is the tangent.

    Returns:
        A function equal to `fast` when not differentiated. Under `jax.jvp` / `jax.grad` / `jax.vjp` the primal and
        the tangent both come from `jax.jvp(plain, ...)` (one pass: computing the primal again with `fast` would
        double the forward work of a gradient). Integer and bool outputs get float0 (zero) tangents; if every
        output is such, `plain` is not differentiated at all.
    """
    wrapped = jax.custom_jvp(fast)

    @wrapped.defjvp
    def _jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        shapes = jax.eval_shape(plain, x)
        if not any(_is_float(leaf) for leaf in jax.tree.leaves(shapes)):
            out = fast(x)
            return out, jax.tree.map(_zero_tangent, out)
        return jax.jvp(plain, (x,), (t,))

    return wrapped


@jax.custom_jvp
def safe_sqrt(x: jax.Array) -> jax.Array:
    """sqrt(x) for x >= 0 whose derivative at 0 is 0 instead of inf.

    A norm of an all-zero vector (a silent frame's rms, a flat chroma, two equal tonal centroids) is 0 and its
    true derivative is unbounded; inf times the zero cotangent of the branch not taken would be NaN. Taking 0
    there (a subgradient of the norm) keeps gradients of silence finite. Same values as `jnp.sqrt`.
    """
    return jnp.sqrt(x)


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = jnp.sqrt(x)
    positive = y > 0
    return y, jnp.where(positive, 0.5 / jnp.where(positive, y, 1), 0) * t
