"""Several processes as one JAX program: start-up from the `launch` flags, who am I, barriers and each
process's share of a work list (trivial with one process). See WORKSPACE.md for the multi-host setup.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import socket
import time
from collections.abc import Sequence
from typing import TypeVar

import jax

from mgc_jax.errors import BackendError, ClusterError

T = TypeVar("T")
BARRIER_TIMEOUT_S = 4 * 3600  # a barrier waits this long for the slowest process (e.g. its extraction share)
_barriers = itertools.count()  # every process calls the same barriers in the same order: equal ids


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """How this process joins a multi-process run; `coordinator_address=None` means a single process."""

    coordinator_address: str | None = None  # "host:port" of process 0's coordinator service, e.g. "10.0.0.1:8476"
    num_processes: int = 1
    process_id: int = 0
    timeout_s: int = 300  # how long initialize waits for every process to join

    def __post_init__(self):
        if self.num_processes < 1:
            raise ValueError(f"num_processes={self.num_processes}: must be >= 1")
        if not 0 <= self.process_id < self.num_processes:
            raise ValueError(f"process_id={self.process_id}: expected 0..{self.num_processes - 1}")
        if self.coordinator_address is None and self.num_processes > 1:
            raise ValueError(f"num_processes={self.num_processes} needs a coordinator_address (host:port of process 0)")
        if self.coordinator_address is not None:
            host, sep, port = self.coordinator_address.rpartition(":")
            if not (host and sep and port.isdigit() and 0 < int(port) < 65536):
                raise ValueError(f"coordinator_address={self.coordinator_address!r}: expected host:port")

    @property
    def multi_process(self) -> bool:
        return self.coordinator_address is not None


def initialize(cluster: ClusterConfig) -> None:
    """Join the run described by `cluster` (`jax.distributed.initialize`); a no-op for a single process.

    Must run before the first JAX computation or device query of the process. Blocks until all
    `num_processes` processes have joined (at most `cluster.timeout_s`).
    """
    if not cluster.multi_process:
        return
    if cluster.process_id != 0:  # jax would wait silently, then abort the process with a C++ stack trace
        wait_for_coordinator(cluster)
    jax.distributed.initialize(coordinator_address=cluster.coordinator_address,
                               num_processes=cluster.num_processes, process_id=cluster.process_id,
                               initialization_timeout=cluster.timeout_s)
    from jax.experimental import multihost_utils

    # Every process has just passed initialize's rendezvous: set the collectives up now, in step (docstring).
    multihost_utils.sync_global_devices("mgc_jax.distributed.initialize")


def wait_for_coordinator(cluster: ClusterConfig, *, poll_s: float = 0.5) -> None:
    """Return once process 0's coordinator accepts connections at `cluster.coordinator_address`; ClusterError
    in one line after `cluster.timeout_s` without it (process 0 not started, or the address unreachable)."""
    host, _, port = cluster.coordinator_address.rpartition(":")
    host = host.strip("[]")  # "[::1]:8476"
    deadline = time.monotonic() + cluster.timeout_s
    while True:
        try:
            wait = max(0.1, min(5.0, deadline - time.monotonic()))
            socket.create_connection((host, int(port)), timeout=wait).close()
            return
        except OSError as e:
            cause = e.strerror or str(e) or type(e).__name__
        if time.monotonic() >= deadline:
            raise ClusterError(
                f"process {cluster.process_id} of {cluster.num_processes}: no coordinator at "
                f"{cluster.coordinator_address} after {cluster.timeout_s:g} s ({cause}): start process 0 "
                "(--process_id=0) with the same --coordinator_address, or give an address this machine reaches")
        time.sleep(poll_s)


def check_backend() -> None:
    """BackendError in one line when JAX cannot start its backend (e.g. JAX_PLATFORMS=cuda without a GPU, where
    jax itself raises a bare AssertionError); called before the first device use of commands and checkpoints."""
    try:
        jax.devices()
    except (RuntimeError, AssertionError) as e:
        asked = os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms or ""
        cause = " ".join(str(e).split()) or f"none of the platforms {asked!r} is available on this machine"
        raise BackendError(f"JAX cannot start a backend (JAX_PLATFORMS={asked!r}): {cause}. Unset JAX_PLATFORMS or "
                           "name a backend this machine has (cpu; cuda needs a GPU and jax's CUDA plugin)") from e


def process_index() -> int:
    """This process's index, 0..process_count() - 1 (0 when not distributed)."""
    return jax.process_index()


def process_count() -> int:
    """Number of processes in the run (1 when not distributed)."""
    return jax.process_count()


def is_primary() -> bool:
    """True in process 0, the one that writes files every process would otherwise write alike."""
    return jax.process_index() == 0


def barrier(name: str, *, timeout_s: float = BARRIER_TIMEOUT_S) -> None:
    """Wait until every process reaches the barrier called `name` (a no-op in a single process).

    Every process must call the same barriers in the same order. It waits on the coordination service of
    `jax.distributed` (the client orbax's own barriers use), not on a device collective, so a process may be
    late by up to `timeout_s`; after that, or if another process died, it raises.
    """
    if jax.process_count() == 1:
        return
    from jax._src import (
        distributed as jax_distributed,  # the client has no public handle in jax 0.10
    )

    jax_distributed.global_state.client.wait_at_barrier(f"mgc_jax:{next(_barriers)}:{name}",
                                                        timeout_in_ms=int(timeout_s * 1000))


def share(items: Sequence[T], index: int | None = None, count: int | None = None) -> list[T]:
    """This process's part of a work list: items[index], items[index + count], ... (round robin).

    A pure function of (items, index, count): every process computes the same partition from the same list
    with no communication, the parts are disjoint and together cover the list, and their sizes differ by at
    most one. Round robin over a sorted corpus gives every process a similar mix of genres and lengths.
    """
    index = process_index() if index is None else index
    count = process_count() if count is None else count
    if not 0 <= index < count:
        raise ValueError(f"process index {index} is outside 0..{count - 1}")
    return list(items[index::count])
