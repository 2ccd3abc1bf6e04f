"""launch.eval_flags: the fold and split flags of launch.crossval and launch.fuse, checked before any work."""
from __future__ import annotations

import pytest
from launchers import run_module


@pytest.mark.parametrize("module,args,message", [
    ("launch.fuse", ["--split=manifest", "--n_folds=5"], "error: --n_folds=5: the manifest split has one fixed"),
    ("launch.crossval", ["--n_folds=2"], "error: --n_folds=2: expected an int >= 3"),
    ("launch.crossval", ["--n_folds=4", "--folds=4"], "error: --folds=4: fold 4 out of range: the stratified split "
                                                      "has folds 0..3"),
])
def test_fold_count_flags_give_one_line(tmp_path, module, args, message):
    proc = run_module(module, *args, f"--workdir={tmp_path / 'ws'}", timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(message), proc.stderr[-2000:]
    assert not (tmp_path / "ws").exists()
