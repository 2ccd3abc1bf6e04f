"""`python -m launch.predict`: classify audio files with one run or a fused pair; each bad file is one error line
and the rest are classified."""
from __future__ import annotations

import numpy as np
import soundfile as sf
from launchers import one_error_line, run_command


def test_launch_predict_refuses_the_same_checkpoint_twice(music_run, tmp_path, capsys):
    from launch import predict

    run, copy = music_run
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(4 * 22050), 22050)
    code, out, err = run_command(predict, capsys, f"--checkpoint={run}", f"--checkpoint={run}/", audio)
    one_error_line(code, err, 2, f"^error: --checkpoint={run} given twice: fusion needs two runs of different nets")
    code, out, err = run_command(predict, capsys, f"--checkpoint={run}", f"--checkpoint={copy}", audio)
    one_error_line(code, err, 1, f"^error: {run} and {copy} are both music runs")
    assert out == ""  # no FUSION2 answer
