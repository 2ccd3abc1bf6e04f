"""`python -m launch.crossval`: train every fold and net, then fuse and report; flag errors before any work."""
from __future__ import annotations

import pytest
from launchers import one_error_line, run_command


@pytest.mark.parametrize("folds, bad", [("10", 10), ("0-20", 10), ("3,12", 12)])
def test_crossval_checks_every_fold_against_the_split_before_any_work(folds, bad, tmp_path, capsys):
    code, out, err = run_command("crossval", capsys, f"--folds={folds}", f"--workdir={tmp_path / 'w'}")
    one_error_line(code, err, 2, rf"^error: --folds={folds}: fold {bad} out of range: the stratified split "
                                  r"has folds 0\.\.9")
    assert out == "" and not (tmp_path / "w").exists()  # no "run 1/N" line, nothing made
