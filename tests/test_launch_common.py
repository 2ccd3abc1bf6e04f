"""launch.common: what every command shares (one `error:` line per refusal, exit statuses, Ctrl-C)."""
from __future__ import annotations

import pytest


def test_ctrl_c_is_one_line_saying_the_command_resumes(capsys):
    from launch import common

    def main(argv):
        print("epoch 1 done")
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as e:
        common.one_line_errors(main)([])
    assert e.value.code == common.EXIT_INTERRUPTED == 130
    out, err = capsys.readouterr()
    assert out == "epoch 1 done\n"
    assert err.splitlines() == ["interrupted: what finished is on disk (epochs, extracted features); the same command "
                                "resumes from there"]
