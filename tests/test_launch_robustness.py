"""`python -m launch.robustness`: attacks on a trained run, reported as text or JSON."""
from __future__ import annotations

import json

import pytest


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


@pytest.mark.parametrize("args,message", [
    (["--snr_db=nan"], r"^error: --snr_db=nan: must be a finite number of dB in \[-20, 150\]$"),
    (["--snr_db=40,-1000"], r"^error: --snr_db=-1000\.0: must be a finite number of dB in \[-20, 150\]$"),
    (["--snr_db=inf"], r"^error: --snr_db=inf: must be a finite number"),
    (["--steps=1000000000"], r"^error: --steps=1000000000: must be in 1\.\.10000$"),
    (["--noise_seed=-1"], r"^error: --noise_seed=-1: must be in 0\.\."),
])
def test_absurd_flags_are_refused_in_one_line_before_any_work(tmp_path, capsys, args, message):
    import re

    from launchers import run_command

    code, _, err = run_command("robustness", capsys, f"--checkpoint={tmp_path / 'absent'}", *args,
                               f"--workdir={tmp_path / 'w'}")
    assert code == 2 and "Traceback" not in err, err
    assert re.search(message, err.strip().splitlines()[-1]), err
    assert not (tmp_path / "w").exists()
