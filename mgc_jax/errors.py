"""The error types of mgc_jax: each names the file (or run) and the cause in one sentence."""
from __future__ import annotations

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
