"""mgc_jax.serve.library and launch.predict on a library: folders and manifests in, one streamed row per file,
bad files listed and never fatal, a killed run resumed without redoing a file, a summary at the end."""
from __future__ import annotations

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from mgc_jax.data import audio
from mgc_jax.errors import DataError
from mgc_jax.serve import library
from mgc_jax.serve.inference import decide

REPO = pathlib.Path(__file__).resolve().parents[1]
GENRES = ("blues", "jazz", "rock")


class FakeClassifier:
    """Classifies by the file's length (no net): reads the header as `audio.check` does, so bad files fail as
    they would in `Classifier.predict`; records every file it is asked for."""

    def __init__(self, log=None, delay_s=0.0):
        self.calls, self.log, self.delay_s = [], log, delay_s

    def predict(self, path):
        self.calls.append(path)
        if self.log is not None:
            with open(self.log, "a", encoding="utf-8", errors="surrogateescape") as f:
                f.write(path + "\n")
        time.sleep(self.delay_s)
        info = audio.check(path)
        probs = np.full((2, len(GENRES)), 0.1, np.float32)
        probs[:, info.frames % len(GENRES)] = 0.8
        return decide([probs], GENRES, duration_s=info.frames / info.sample_rate)


def make_library(root: pathlib.Path, n_good: int, *, bad=("empty", "text", "truncated")) -> tuple[list, list]:
    """n_good tiny WAVs in nested folders (plus a cover image and a hidden file) and the bad files named."""
    good = []
    for i in range(n_good):
        folder = root / f"artist{i % 7}" / f"album{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"track{i:04d}.wav"
        sf.write(path, np.zeros(100 + i, np.float32), 22050, subtype="PCM_16")
        good.append(str(path))
    (root / "artist0" / "cover.jpg").write_bytes(b"\xff\xd8")
    (root / ".hidden.wav").write_bytes(b"")
    bad_paths = []
    for kind in bad:
        path = root / "artist1" / f"bad_{kind}.wav"
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "text":
            path.write_text("not audio\n")
        else:  # a WAV whose data chunk was cut
            sf.write(path, np.zeros(20000, np.float32), 22050, subtype="PCM_16")
            path.write_bytes(path.read_bytes()[:2000])
        bad_paths.append(str(path))
    return good, bad_paths


def read_rows(path: pathlib.Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_expand_folders_manifests_files_and_missing(tmp_path):
    good, bad = make_library(tmp_path / "lib", 5)
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label\nlib/artist0/album0/track0000.wav,x\nextra.wav,y\n")
    (tmp_path / "extra.wav").write_bytes((tmp_path / "lib/artist0/album0/track0000.wav").read_bytes())
    found = library.expand([str(tmp_path / "lib"), str(manifest), str(tmp_path / "missing.wav")])
    assert sorted(found.files) == sorted(good + bad + [str(tmp_path / "extra.wav")])  # the manifest's twin: once
    assert found.bad == [(str(tmp_path / "missing.wav"), "no such file or folder")]
    assert found.other_files == 1  # cover.jpg; the hidden file is not counted
    with pytest.raises(DataError, match="standard input is not read"):
        library.expand(["-"])


@pytest.mark.parametrize("suffix,n_files", [pytest.param(".csv", 1000, marks=pytest.mark.slow), (".jsonl", 200)])
def test_library_with_3_bad_files_killed_halfway_resumes_without_redoing(tmp_path, suffix, n_files):
    good, bad = make_library(tmp_path / "lib", n_files - 3)
    out = tmp_path / f"tags{suffix}"
    log = tmp_path / "calls.log"
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / "tests")!r}, {str(REPO / "tests" / "support")!r}]
        from test_library import FakeClassifier
        from mgc_jax.serve import library
        inputs = library.expand([{str(tmp_path / "lib")!r}])
        library.tag(FakeClassifier(log={str(log)!r}, delay_s=0.002), inputs, {str(out)!r}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < n_files // 2):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    written = out.read_bytes()
    with open(out, "ab") as f:  # what a kill inside a write leaves: a partial last line
        f.write(written.splitlines(keepends=True)[-1][:7])
    first_run = set(log.read_text().splitlines())
    assert n_files // 2 - 50 < len(first_run) < n_files

    clf = FakeClassifier()
    summary = library.tag(clf, library.expand([str(tmp_path / "lib")]), out, progress=False)
    rows = read_rows(out)
    files = [r["file"] for r in rows]
    assert len(files) == len(set(files)) == n_files  # every file once, the partial line replaced
    complete = tmp_path / f"complete{suffix}"
    complete.write_bytes(written)
    before = {r["file"] for r in read_rows(complete)}
    assert not set(clf.calls) & before  # nothing written before the kill is classified again
    assert set(clf.calls) | before == set(files)
    errors = {r["file"]: r["error"] for r in rows if r.get("error")}
    assert sorted(errors) == sorted(bad)
    assert all(errors.values())  # each with its cause
    assert summary.classified == n_files - 3 and len(summary.bad) == 3 and summary.files == n_files
    assert sum(summary.per_class.values()) == n_files - 3
    assert summary.resumed == len(set(files) - set(clf.calls)) >= n_files // 2 - 1


def test_tag_summary_lists_bad_files_and_counts(tmp_path):
    good, bad = make_library(tmp_path / "lib", 6)
    out = tmp_path / "tags.csv"
    inputs = library.expand([str(tmp_path / "lib"), str(tmp_path / "gone")])
    summary = library.tag(FakeClassifier(), inputs, out, progress=False)
    text = "\n".join(summary.lines(out))
    assert summary.files == 10 and summary.classified == 6 and len(summary.bad) == 4
    assert f"10 files: 6 classified (0.00 hours of audio), 4 bad; 0 were already in {out}" in text
    assert "per class: " in text and f"  {tmp_path / 'gone'}: no such file or folder" in text
    assert "1 files under the folders are not audio" in text
    again = library.tag(FakeClassifier(), inputs, out, progress=False)  # nothing left to do
    assert again.resumed == 9 and again.classified == 6 and len(read_rows(out)) == 10


def test_result_file_refuses_other_files(tmp_path):
    with pytest.raises(DataError, match="give a .csv or .jsonl file name"):
        library.ResultFile(tmp_path / "tags.txt")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="header is not launch.predict's"):
        library.ResultFile(other)


def test_non_utf8_and_non_ascii_file_names_round_trip(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    sf.write(lib / "ünï©ødé 🎵.wav", np.zeros(300, np.float32), 22050)
    sf.write(lib / "latin1.wav", np.zeros(300, np.float32), 22050)
    os.rename(os.fsencode(lib / "latin1.wav"), os.fsencode(lib) + b"/latin1-\xe9t\xe9.wav")  # not UTF-8
    out = tmp_path / "tags.csv"
    library.tag(FakeClassifier(), library.expand([str(lib)]), out, progress=False)
    clf = FakeClassifier()
    library.tag(clf, library.expand([str(lib)]), out, progress=False)  # resumed: the names read back equal
    assert clf.calls == []
