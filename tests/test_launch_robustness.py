"""`python -m launch.robustness`: attacks on a trained run, reported as text or JSON."""
from __future__ import annotations

import json


def test_launch_robustness_json(two_genre_runs, capsys):
    from launchers import run_in_process

    from launch import robustness as launcher

    wd, corpus, dirs = two_genre_runs
    code, stdout, _ = run_in_process(launcher, capsys, f"--checkpoint={dirs['music']}", "--snr_db=30", "--steps=2",
                                     "--max_tracks=1", f"--workdir={wd.root}", "--json")
    assert code == 0
    out = json.loads(stdout)
    assert out["n_tracks"] == 1 and out["attacks"][0]["snr_db"] == 30.0
    assert out["attacks"][0]["min_achieved_snr_db"] >= 30.0
