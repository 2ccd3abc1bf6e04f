"""The training lock of a run directory (train.lock: pid, host, start time), so two trainings of one run never
interleave: a second is refused in one line, a dead holder's lock is taken over with a warning.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import time
from collections.abc import Iterator, Mapping

from absl import logging

from mgc_jax.errors import DataError, DiskFullError, is_disk_full

LOCK = "train.lock"


class RunLocked(DataError):
    """Another live process holds the run directory's training lock."""


def _proc_start(pid: int) -> str:
    """'<boot id>:<start time in clock ticks>' of a process where /proc tells it (Linux), else '': with it a pid
    reused by another process (or after a reboot) reads as a different process."""
    try:
        boot = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime), counted after the command name, which may itself hold spaces and parentheses.
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"


def read_lock(run_dir: str | os.PathLike) -> dict | None:
    """The lock record {"pid", "host", "started", "proc_start"} of a run directory, None when it has none; an
    unreadable record (being written, or cut) reads as {"pid": None, "host": None}."""
    return _read_lock_file(pathlib.Path(run_dir) / LOCK)


def _read_lock_file(path: pathlib.Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
        int(rec["pid"]), str(rec["host"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return {"pid": None, "host": None}
    return rec


def lock_holder_alive(rec: Mapping) -> bool | None:
    """Whether a lock record's process still runs: True, False (this host, and its pid is gone or now another
    process), or None when this host cannot tell (another host's lock)."""
    if rec.get("host") != socket.gethostname():
        return None
    pid = int(rec["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        pass
    started, now = rec.get("proc_start") or "", _proc_start(pid)
    return not (started and now and started != now)


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, *, enabled: bool = True) -> Iterator[None]:
    """Hold `run_dir`'s exclusive training lock (LOCK: pid, host, start time) for the `with` block.

    The file is created with O_EXCL, so of two processes starting one run only one gets it; the other gets
    RunLocked "RUN is being trained by pid N on HOST (since ...)". The lock of a dead process of this host
    (killed, or before a reboot) is taken over with a warning; another host's lock is never broken, since this
    host cannot see its processes (the message says where to look). Released however the block ends
    (exception, Ctrl-C). enabled=False (the non-primary processes of a multi-process run) holds nothing.
    """
    if not enabled:
        yield
        return
    path = pathlib.Path(run_dir) / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "proc_start": _proc_start(os.getpid()),
          "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    for attempt in range(3):  # a stale lock removed, then a retry (another process may have taken it meanwhile)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            _remove_stale_lock(run_dir, path, refuse=attempt == 2)
            continue
        except OSError as e:
            if is_disk_full(e):
                raise DiskFullError(path) from e
            raise
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me) + "\n")
        break
    else:
        raise RunLocked(f"{run_dir}: its lock {path} was taken by other processes three times in a row")
    try:
        yield
    finally:
        rec = read_lock(run_dir)  # only our own: a process that took over a lock it found stale keeps its lock
        if rec is not None and (rec.get("pid"), rec.get("host")) == (me["pid"], me["host"]):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _remove_stale_lock(run_dir, path: pathlib.Path, *, refuse: bool = False) -> None:
    """Remove a dead process's lock (with a warning); RunLocked naming the holder when it is alive, on another
    host, or (`refuse`) still there after retries."""
    rec = read_lock(run_dir)
    if rec is None:  # released meanwhile
        return
    if rec["pid"] is None:
        # Empty while its creator writes it (O_EXCL first, content next), or cut by a crash: only its age tells.
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:  # released meanwhile
            return
        if age < 10 or refuse:
            raise RunLocked(f"{run_dir} is being locked by another process ({path} holds no pid yet)")
        logging.warning("%s: unreadable lock file, %.0f s old, taken over", path, age)
    else:
        alive = lock_holder_alive(rec)
        if alive is not False or refuse:
            other = ("" if alive is not None else "; it is another host's lock: if no training runs there, "
                     f"delete {path}")
            raise RunLocked(f"{run_dir} is being trained by pid {rec['pid']} on {rec['host']} "
                            f"(since {rec.get('started', '?')}){other}")
        logging.warning("%s: pid %s on %s, which held its lock, is no longer running; lock taken over", run_dir,
                        rec["pid"], rec["host"])
    # Moved aside first and checked: of processes removing one stale lock, a slower one must not remove the
    # lock a faster one has just made.
    aside = path.with_name(f".{LOCK}.{os.getpid()}.stale")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    if _read_lock_file(aside) != rec:
        os.replace(aside, path)  # a live lock: put it back
    else:
        aside.unlink()
