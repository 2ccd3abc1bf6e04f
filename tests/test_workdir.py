"""mgc_jax.workdir: the atomic writer (its files' mode) and the JSON writer."""
from __future__ import annotations

import os
import stat

import pytest

from mgc_jax.workdir import atomic_write, read_json, write_json


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_write_follows_the_umask_as_open_does(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_write(tmp_path / "a.bin") as f:
            f.write(b"x")
        write_json(tmp_path / "b.json", {"k": 1})
        with open(tmp_path / "c.txt", "w") as f:  # what a plain open() gives under this umask
            f.write("x")
    finally:
        os.umask(old)
    modes = {p: stat.S_IMODE(os.stat(tmp_path / p).st_mode) for p in ("a.bin", "b.json", "c.txt")}
    assert modes["a.bin"] == modes["b.json"] == modes["c.txt"] == 0o666 & ~umask


def test_write_json_round_trips(tmp_path):
    write_json(tmp_path / "s.json", {"b": 1, "a": [1, 2]})
    assert read_json(tmp_path / "s.json") == {"b": 1, "a": [1, 2]}
