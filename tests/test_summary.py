"""mgc_jax.data.summary: what a corpus holds, counted before anything is refused; files not used by cause."""
from __future__ import annotations

import pathlib

from mgc_jax.data.sources import Source
from mgc_jax.data.summary import SHOWN, CorpusSummary, cause_kind, write_skipped
from mgc_jax.data.track import UNLABELLED, Track


def test_cause_kind_drops_what_is_particular_to_a_file():
    assert cause_kind("m.csv line 7: truncated: 12 of 99 declared frames decode") == \
        "truncated: N of N declared frames decode"
    assert cause_kind("empty file (0 bytes)") == "empty file"
    assert cause_kind("unsupported audio format .m4a (libsndfile cannot decode it)") == "unsupported audio format .m4a"
    assert cause_kind("shorter than one 128-frame clip (85 frames)") == "shorter than one N-frame clip"
    assert cause_kind("the same file as /x/y z.wav (a symbolic link)") == cause_kind("the same file as /q.wav") == \
        "the same file as PATH"


def _source(n_empty: int = 0) -> Source:
    tracks = [Track(f"a{i}", "A", f"/c/A/{i}.mp3") for i in range(3)] + [Track("b0", "B", "/c/B/0.wav"),
                                                                        Track("u0", UNLABELLED, "/c/loose.wav")]
    skipped = [(f"/c/B/e{i}.wav", "empty file (0 bytes)") for i in range(n_empty)] + [("/c/B/x.m4a", "unsupported")]
    return Source("folder", "c-1234", pathlib.Path("/c"), ("A", "B"), tracks, skipped,
                  {t.path: 90.0 for t in tracks}, {p: "B" for p, _ in skipped})


def test_lines_count_classes_hours_formats_and_causes():
    s = CorpusSummary.of(_source(n_empty=5000))
    lines = s.lines("/w/corpora/c-1234/skipped.tsv")
    assert lines[0] == "corpus c-1234 (folder, /c): 2 classes, 5 tracks, 7.5 min; formats: mp3 3, wav 2"
    assert lines[1].split() == ["A", "3", "tracks", "4.5", "min"]
    assert lines[2].split()[:5] == ["B", "1", "tracks", "1.5", "min"] and "(5001 files not used)" in lines[2]
    assert lines[3].split()[:3] == ["(no", "class)", "1"]
    assert "5001 files not used, by cause (all in /w/corpora/c-1234/skipped.tsv)" in lines[4]
    assert lines[5].startswith("    5000 x empty file: /c/B/e0.wav: empty file (0 bytes); ")
    assert lines[5].endswith(f"; and {5000 - SHOWN} more") and lines[5].count("/c/B/e") == SHOWN
    assert lines[6] == "    1 x unsupported: /c/B/x.m4a: unsupported"
    assert len(lines) == 7  # 5,001 files not used, 7 lines


def test_a_class_refusal_says_how_many_of_its_files_were_not_used_and_why():
    s = CorpusSummary.of(_source(n_empty=2))
    msg = s.explain("class 'B' has 1 tracks: 3 folds need at least 3 per class")
    assert msg.endswith("; 3 of the 4 files of class 'B' were not used (2 x empty file, 1 x unsupported)")
    assert s.explain("class 'A' has 3 tracks").endswith("; no file of class 'A' was left out")
    assert s.explain("something else") == "something else"


def test_skipped_tsv_lists_every_file_and_is_left_alone_when_unchanged(tmp_path):
    s = CorpusSummary.of(_source(n_empty=3))
    path = write_skipped(tmp_path / "corpora" / "c" / "skipped.tsv", s)
    rows = path.read_text().splitlines()
    assert rows[0] == "path\tclass\tcause" and len(rows) == 1 + 4
    assert "/c/B/e0.wav\tB\tempty file (0 bytes)" in rows
    mtime = path.stat().st_mtime_ns
    path.chmod(0o444)
    write_skipped(path, s)  # unchanged: not rewritten (a read-only workdir stays usable)
    assert path.stat().st_mtime_ns == mtime
