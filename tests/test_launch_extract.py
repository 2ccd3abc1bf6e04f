"""`python -m launch.extract`: extract a corpus's feature maps, list every file not used and why, resume with no
work."""
from __future__ import annotations

import re

import fake_extraction
import messy_corpus
import numpy as np
import pytest
import soundfile as sf
from bad_audio import NOT_A_TRACK_FOLDER, REFUSED, SR, TOO_SHORT_TO_EXTRACT
from damaged_files import rot_keeping_mtime
from launchers import run_command, run_in_process, run_module

from mgc_jax.data import cache
from mgc_jax.data.gtzan import scan


def test_launch_extract_lists_every_file_not_used(bad_corpus, bad_corpus_extracted, capsys):
    from launch import extract

    root, paths = bad_corpus
    _, _, wd = bad_corpus_extracted
    code, out, _ = run_in_process(extract, capsys, f"--data_dir={root}", f"--workdir={wd.root}", "--noprogress")
    assert code == 0
    # 14 tracks cached by the fixture; short_clip is cached but has no 128-frame clip.
    assert "0 tracks extracted now, 14 already cached, 13 usable" in out, out
    not_used = {n: r.cause for n, r in REFUSED.items()} | {
        "directory": NOT_A_TRACK_FOLDER, "short_frame": TOO_SHORT_TO_EXTRACT,
        "short_clip": "shorter than one 128-frame clip (85 frames)"}
    assert f"{len(not_used)} files not used, each with its cause in " in out  # all of them in skipped.tsv
    for name, cause in not_used.items():  # named in the summary, by cause
        assert f"{paths[name]}: {cause}" in out, name
    found = scan(root)  # discovery alone already refuses what the header check sees
    assert {p for p, _ in found.skipped} == {str(paths[n]) for n, r in REFUSED.items() if r.by_check}


def test_launch_extract_verify_lists_what_rotted(tmp_path, monkeypatch, capsys):
    fake_extraction.install(monkeypatch, "level")
    for g in ("blues", "rock"):
        path = tmp_path / "gtzan" / "genres" / g / f"{g}.00000.wav"
        path.parent.mkdir(parents=True)
        sf.write(path, 0.1 * np.random.default_rng(len(g)).standard_normal(4 * SR), SR, subtype="PCM_16")
    args = (f"--data_dir={tmp_path / 'gtzan'}", f"--workdir={tmp_path / 'w'}", "--noprogress")
    assert run_command("extract", capsys, *args)[0] == 0
    path = next((tmp_path / "w" / "features").glob("*/rock.00000.music.npy"))
    rot_keeping_mtime(path)
    code, out, err = run_command("extract", capsys, *args, "--verify")
    assert code == 0, err
    assert "1 tracks extracted now" in out
    assert f"verified 4 cached files against their SHA-256: 1 extracted again\n  {path}: content differs" in out
    code, out, _ = run_command("extract", capsys, *args, "--verify")
    assert "0 tracks extracted now" in out and "verified 4 cached files against their SHA-256: all intact" in out


def _extract(*args, timeout=900):
    return run_module("launch.extract", "--noprogress", *args, timeout=timeout)


def test_messy_folder_is_extracted_then_resumed_with_no_work(tmp_path):
    root = messy_corpus.make(tmp_path / "corpus", messy_corpus.shared_or_none())
    wd = tmp_path / "work"
    first = _extract(f"--data_dir={root}", f"--workdir={wd}")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert re.search(r"3 tracks extracted now in [\d.]+ s, 0 already cached, 3 usable", out), out
    assert "3 files not used, by cause" in out
    for name, cause in messy_corpus.BAD.items():
        assert f"{root / 'genres' / name}: {cause}" in out
    fc = cache.FeatureCache(next((wd / "features").glob("corpus-*")))
    assert str(fc.directory) in out
    assert sorted(fc.entries()) == list(messy_corpus.GOOD)
    stereo = fc.entries()["classical.00000"]
    assert stereo["n_samples"] == 8 * 22050  # 44.1 kHz stereo -> 22,050 Hz mono
    assert fc.load("classical.00000", "stft").shape == (stereo["n_frames"], 513)
    assert np.isfinite(fc.load("blues.00000", "music")).all()
    stamps = {p: p.stat().st_mtime_ns for p in fc.directory.iterdir()}

    second = _extract(f"--data_dir={root}", f"--workdir={wd}")
    assert second.returncode == 0, second.stderr
    assert "0 tracks extracted now, 3 already cached, 3 usable" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in fc.directory.iterdir()} == stamps  # nothing rewritten


def _error_line(result):
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_data_dir_is_one_line_and_exit_1(tmp_path):
    r = _extract(f"--data_dir={tmp_path / 'nowhere'}", f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == 1 and "no such folder" in _error_line(r)
    assert "Traceback" not in r.stderr


def test_a_folder_without_usable_tracks_exits_1(tmp_path):
    (tmp_path / "c" / "jazz").mkdir(parents=True)
    (tmp_path / "c" / "jazz" / "jazz.00054.wav").write_bytes(b"")
    r = _extract(f"--data_dir={tmp_path / 'c'}", f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == 1 and "no usable track" in _error_line(r)


def test_stray_arguments_are_a_usage_error(tmp_path):
    r = _extract("somefile.wav", f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == 2 and "unexpected arguments: somefile.wav" in _error_line(r)


@pytest.mark.parametrize("value, what", [("", "--data_dir is empty"), ("/", "the file-system root is not a corpus")])
def test_an_absurd_data_dir_is_one_line_before_any_walk(tmp_path, value, what):
    r = _extract(f"--data_dir={value}", f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == 1 and what in _error_line(r) and "Traceback" not in r.stderr
    assert not (tmp_path / "w").exists()  # nothing walked, nothing written


def test_a_manifest_of_one_class_with_a_missing_row_is_extracted_and_the_row_named(tmp_path):
    sf.write(tmp_path / "good.wav", 0.1 * np.random.default_rng(0).standard_normal(4 * 22050), 22050)
    (tmp_path / "m.csv").write_text("path,label\ngood.wav,x\nlost.wav,x\n")
    r = _extract(f"--data_dir={tmp_path / 'm.csv'}", f"--workdir={tmp_path / 'w'}")
    assert r.returncode == 0, r.stderr
    assert "1 tracks extracted now" in r.stdout and "1 usable" in r.stdout
    assert f"1 x no such file: {tmp_path / 'lost.wav'}: m.csv line 3: no such file" in r.stdout
    assert r.stdout.index("1 classes, 1 tracks") < r.stdout.index("tracks extracted now")  # the summary first
