"""A full disk (ENOSPC) by monkeypatching `os.fsync`, which every atomic write of mgc_jax ends with: writers must name
the path ("no space left on device writing PATH") and leave nothing half-written behind."""
from __future__ import annotations

import errno
import os

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fill_disk_after(monkeypatch, n_ok: int) -> dict:
    """os.fsync succeeds `n_ok` times, then raises ENOSPC (as a full disk does at the latest there) until the
    returned dict's "full" is set to False (space freed)."""
    real, state = os.fsync, {"n": 0, "full": True}

    def fsync(fd):
        state["n"] += 1
        if state["full"] and state["n"] > n_ok:
            raise ENOSPC
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return state
