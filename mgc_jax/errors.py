"""The error types of mgc_jax: each names the file (or run) and the cause in one sentence."""
from __future__ import annotations

import errno
import os


class AudioError(Exception):
    """An audio file that cannot be used: missing, empty, truncated, not audio, no samples, non-finite...

    Attributes:
      path: the offending file.
      cause: a short human-readable reason ("empty file", "not an audio file", ...).
    """

    def __init__(self, path: str | os.PathLike, cause: str):
        self.path = os.fspath(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class DataError(Exception):
    """A corpus, split, cache or run directory that cannot be used (names the path and the cause)."""


class ConfigError(ValueError):
    """A training or model configuration value that cannot be used (names the field and the rule it breaks).

    A ValueError, so callers that catch bad values keep working; `launch` commands turn a field's error into
    a usage error naming the flag of the same name.
    """


class BackendError(RuntimeError):
    """JAX cannot start the backend it was asked for (JAX_PLATFORMS=cuda on a machine without a GPU...)."""


class ClusterError(RuntimeError):
    """A multi-process run that cannot start: no coordinator (process 0) at the address given, in time."""


class DiskFullError(OSError):
    """No space left on the device while writing `path` (errno ENOSPC), in one line naming the path.

    Every writer of mgc_jax leaves nothing half-written that looks finished (atomic renames, orbax's tmp
    directories), so after freeing space the same command resumes where it stopped.
    """

    def __init__(self, path: str | os.PathLike):
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        self.path = os.fspath(path)

    def __str__(self) -> str:
        return f"no space left on device writing {self.path}"


def is_disk_full(e: BaseException | None) -> bool:
    """True when ENOSPC is anywhere in e's cause/context chain, also as text: orbax and tensorstore raise
    ValueError("RESOURCE_EXHAUSTED: ... No space left on device"), libsndfile its own error."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or os.strerror(errno.ENOSPC) in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def is_out_of_memory(e: BaseException) -> bool:
    """True for host memory (MemoryError) or an accelerator's (XLA's "RESOURCE_EXHAUSTED: Out of memory ..."),
    not for a full disk (orbax reports that as RESOURCE_EXHAUSTED too)."""
    if isinstance(e, MemoryError):
        return True
    text = str(e)
    return "RESOURCE_EXHAUSTED" in text and "memory" in text.lower() and not is_disk_full(e)
