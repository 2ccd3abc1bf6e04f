"""`python -m launch.extract`: extract a corpus's feature maps, list every file not used and why, resume with no
work."""
from __future__ import annotations

import fake_extraction
import numpy as np
import soundfile as sf
from bad_audio import NOT_A_TRACK_FOLDER, REFUSED, SR, TOO_SHORT_TO_EXTRACT
from damaged_files import rot_keeping_mtime
from launchers import run_command, run_in_process

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
    assert f"{len(not_used)} files not used:" in out
    for name, cause in not_used.items():
        assert f"  {paths[name]}: {cause}" in out, name
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
