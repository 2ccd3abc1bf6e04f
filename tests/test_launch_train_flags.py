"""launch.train_flags: the training flags shared by launch.train and launch.crossval, checked before any work."""
from __future__ import annotations

import pytest
from launchers import one_error_line, run_command, run_module


@pytest.mark.parametrize("value", [-5, 0])
@pytest.mark.parametrize("command", ["train", "crossval"])
def test_tracks_per_genre_below_one_is_a_flag_error_before_any_work(command, value, tmp_path, capsys):
    args = ["--net=music"] if command == "train" else []
    code, _, err = run_command(command, capsys, *args, f"--tracks_per_genre={value}", f"--workdir={tmp_path / 'w'}")
    one_error_line(code, err, 2, rf"^error: --tracks_per_genre={value}: must be >= 1")
    assert not (tmp_path / "w").exists()  # 0 did not mean "unset": no default corpus was made


def test_fold_flag_is_checked_against_the_fold_count_in_one_line(tmp_path):
    proc = run_module("launch.train", "--net=music", "--n_folds=5", "--fold=7", f"--workdir={tmp_path / 'ws'}",
                      timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: --fold=7: expected 0..4"), \
        proc.stderr[-2000:]
    assert not (tmp_path / "ws").exists()
