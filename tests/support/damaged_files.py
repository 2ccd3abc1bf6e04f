"""Ways to damage a feature cache or a run directory as disks, kills and hand edits do, for the tests that check each
is detected and named (test_cache, test_extraction, test_checkpoint, test_launch_extract, test_launch_predict)."""
from __future__ import annotations

import json
import os
import pathlib
import shutil


def npy(directory, kind="music", track="blues.00000"):
    """The cached array of `track`'s `kind` map in the cache `directory`."""
    return directory / f"{track}.{kind}.npy"


def rot_keeping_mtime(path):
    """Flip bytes of the array's data (not its header) and put the old mtime back: what a failing disk does."""
    st = path.stat()
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) - 16, len(raw)):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def each(pattern):
    """apply(run_dir, fn): `fn(path)` on every file under run_dir/checkpoints matching `pattern` (at least one)."""
    def apply(run_dir, fn):
        files = [p for p in (run_dir / "checkpoints").rglob(pattern) if p.is_file()]
        assert files, pattern
        for p in files:
            fn(p)

    return apply


def garbage(p):
    p.write_bytes(b"\x00garbage\xff" * 3)


def truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def replace_dir_by_file(run_dir):
    shutil.rmtree(run_dir / "checkpoints")
    (run_dir / "checkpoints").write_bytes(b"not a directory")


# damage -> (how, regex the CheckpointError must match: the directory it names and the cause)
CHECKPOINT_DAMAGE = {
    "garbage step metadata": (lambda d: each("_CHECKPOINT_METADATA")(d, garbage),
                              r"checkpoints/2: damaged checkpoint \(_CHECKPOINT_METADATA is not valid JSON"),
    "missing step metadata": (lambda d: each("_CHECKPOINT_METADATA")(d, pathlib.Path.unlink),
                              r"checkpoints/2: damaged checkpoint \(_CHECKPOINT_METADATA is missing\)"),
    "garbage array metadata": (lambda d: each("state/_METADATA")(d, garbage),
                               r"checkpoints/2: damaged checkpoint \(its array files cannot be read"),
    "missing array metadata": (lambda d: each("state/_METADATA")(d, pathlib.Path.unlink),
                               r"checkpoints/2: damaged checkpoint \(its metadata cannot be read"),
    "garbage ocdbt manifest": (lambda d: each("manifest.ocdbt")(d, garbage),
                               r"checkpoints/2: damaged checkpoint \(its array files cannot be read"),
    "every file truncated": (lambda d: each("*")(d, truncate),
                             r"checkpoints: cannot open checkpoint directory \(damaged step directories: 1, 2;"),
    "garbage metrics of step 1": (lambda d: garbage(d / "checkpoints" / "1" / "metrics" / "metrics"),
                                  r"checkpoints: cannot open checkpoint directory \(damaged step directories: 1;"),
    "checkpoints is a file": (replace_dir_by_file, r"checkpoints: not a directory"),
}


def edit_config(edit):
    """how(run_dir): config.json rewritten as `edit(config)`."""
    def how(run_dir):
        config = json.loads((run_dir / "config.json").read_text())
        (run_dir / "config.json").write_text(json.dumps(edit(config)))

    return how


def drop(key):
    return edit_config(lambda c: {k: v for k, v in c.items() if k != key})
