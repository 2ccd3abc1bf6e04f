"""Data parallelism over devices: a 1-D mesh with the axis "data", batches sharded along it, and `batch_map`
(a vmap whose rows each device maps on its own). Works unchanged on one device, several, or several processes.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """1-D `Mesh` with axis "data" over `devices` (default: `jax.devices()`, all processes' devices).

    Devices keep JAX's order (by process, then id), so each process's devices hold a contiguous block of a
    batch-sharded axis.
    """
    return _mesh(tuple(jax.devices() if devices is None else devices))


def local_mesh() -> Mesh:
    """`data_mesh` over this process's devices only (`jax.local_devices()`): work that needs no other process."""
    return _mesh(tuple(jax.local_devices()))


@functools.lru_cache(maxsize=8)
def _mesh(devices: tuple) -> Mesh:
    if not devices:
        raise ValueError("a mesh needs at least one device")
    return Mesh(np.array(devices, dtype=object), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Axis 0 split over "data" (rows [i * B / D, (i + 1) * B / D) on device i); other axes whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """The whole array on every device of the mesh (parameters, optimizer state, keys, statistics)."""
    return NamedSharding(mesh, PartitionSpec())


def padded_size(n: int, mesh: Mesh) -> int:
    """Smallest multiple of the mesh's device count that is >= n (and >= one row per device)."""
    d = mesh.size
    return max(d, -(-n // d) * d)


def pad_rows(x: np.ndarray, n: int, *, fill: str = "zeros") -> np.ndarray:
    """x [b, ...] -> [n, ...] (n >= b): extra rows are zeros (fill="zeros") or copies of the last row ("edge").

    "edge" suits functions that reject silence or whose cost depends on the input; the pad rows are dropped
    by the caller either way.
    """
    x = np.asarray(x)
    if n < len(x):
        raise ValueError(f"cannot pad {len(x)} rows down to {n}")
    if n == len(x):
        return x
    if fill == "edge":
        if not len(x):
            raise ValueError("edge padding needs at least one row")
        extra = np.broadcast_to(x[-1:], (n - len(x), *x.shape[1:]))
    elif fill == "zeros":
        extra = np.zeros((n - len(x), *x.shape[1:]), x.dtype)
    else:
        raise ValueError(f"fill={fill!r}: expected 'zeros' or 'edge'")
    return np.concatenate([x, extra])


def process_rows(mesh: Mesh, n: int) -> slice:
    """The rows of a batch-sharded [n, ...] array that this process's devices hold (all of them in one process).

    Raises ValueError when n is not a multiple of the device count (the batch could not split evenly).
    """
    if n % mesh.size:
        raise ValueError(f"a batch of {n} rows does not split over {mesh.size} devices; pad it to "
                         f"{padded_size(n, mesh)} (mgc_jax.sharding.padded_size)")
    index_map = batch_sharding(mesh).addressable_devices_indices_map((n,))
    starts = sorted(idx[0].start or 0 for idx in index_map.values())
    per_device = n // mesh.size
    lo, hi = starts[0], starts[-1] + per_device
    if hi - lo != per_device * len(starts):  # the mesh interleaves processes: no contiguous block
        raise ValueError("this process's devices do not hold a contiguous block of the batch")
    return slice(lo, hi)


def shard_rows(tree: Any, mesh: Mesh) -> Any:
    """A pytree of host arrays [n, ...] (the same global batch in every process) -> batch-sharded jax.Arrays.

    Each process hands over only its own rows (`process_rows`) through `jax.make_array_from_process_local_data`,
    so nothing crosses hosts; on one process this is a `device_put` split over the local devices.
    """
    sharding = batch_sharding(mesh)

    def put(x):
        x = np.asarray(x)
        rows = process_rows(mesh, len(x))
        return jax.make_array_from_process_local_data(sharding, x[rows], x.shape)

    return jax.tree.map(put, tree)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """A pytree of arrays with the same value in every process -> copies on every device of the mesh.

    A no-op for arrays already replicated on this mesh (the training state between steps). With several
    processes, other values go through `jax.make_array_from_process_local_data` (each process's copy is the
    whole array): a `device_put` of a process-local jax.Array there builds an array that orbax cannot save.
    """
    sharding = replicated(mesh)

    def put(x):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))

    return jax.tree.map(put, tree)


def batch_map(fn: Callable, mesh: Mesh) -> Callable:
    """`jax.vmap(fn)` over axis 0 of a batch-sharded pytree, each device mapping its own rows (jitted).

    fn: one example -> pytree of arrays (e.g. `lambda x: dsp.music_features(x, cfg)`, x float32 [n]).
    The returned function takes x [B, ...] with B a multiple of `mesh.size` (see `padded_size`) and returns
    fn's outputs stacked on axis 0, batch-sharded like the input. fn must not need other rows (no collectives):
    shard_map's replication checks are off because dsp's scans start from replicated carries.
    """
    spec = PartitionSpec(DATA_AXIS)
    mapped = jax.shard_map(jax.vmap(fn), mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)
    return jax.jit(mapped, in_shardings=batch_sharding(mesh), out_shardings=batch_sharding(mesh))


def map_padded(fn: Callable, x: np.ndarray, *, mesh: Mesh | None = None, fill: str = "edge") -> Any:
    """fn over every row of x [b, ...] on this process's devices: pad to `padded_size`, `batch_map`, drop pads.

    Returns fn's outputs stacked on axis 0 as NumPy arrays [b, ...]. For repeated calls build
    `batch_map(fn, mesh)` once (a new fn object means a new compilation), e.g. in a notebook::

        run = sharding.batch_map(lambda x: dsp.music_features(x, cfg), sharding.local_mesh())
        maps = np.asarray(run(xs))  # xs float32 [B, n], B a multiple of the device count
    """
    mesh = local_mesh() if mesh is None else mesh
    x = np.asarray(x)
    out = batch_map(fn, mesh)(shard_rows(pad_rows(x, padded_size(len(x), mesh), fill=fill), mesh))
    return jax.tree.map(lambda a: np.asarray(a)[: len(x)], out)
