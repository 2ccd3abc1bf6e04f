"""`python -m launch.extract`: extract a corpus's feature maps, list every file not used and why, resume with no
work."""
from __future__ import annotations

from bad_audio import NOT_A_TRACK_FOLDER, REFUSED, TOO_SHORT_TO_EXTRACT
from launchers import run_in_process

from mgc_jax.data.gtzan import scan


def test_launch_extract_lists_every_file_not_used(bad_corpus, bad_corpus_extracted, capsys):
    from launch import extract

    root, paths = bad_corpus
    _, _, wd = bad_corpus_extracted
    code, out, _ = run_in_process(extract, capsys, f"--data_dir={root}", f"--workdir={wd.root}", "--noprogress")
    assert code == 0
    # 14 tracks cached by the fixture; short_clip is cached but has no 128-frame clip.
    assert "0 tracks bad_corpus_extracted now, 14 already cached, 13 usable" in out, out
    not_used = {n: r.cause for n, r in REFUSED.items()} | {
        "directory": NOT_A_TRACK_FOLDER, "short_frame": TOO_SHORT_TO_EXTRACT,
        "short_clip": "shorter than one 128-frame clip (85 frames)"}
    assert f"{len(not_used)} files not used:" in out
    for name, cause in not_used.items():
        assert f"  {paths[name]}: {cause}" in out, name
    found = scan(root)  # discovery alone already refuses what the header check sees
    assert {p for p, _ in found.skipped} == {str(paths[n]) for n, r in REFUSED.items() if r.by_check}
