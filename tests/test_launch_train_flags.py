"""launch.train_flags: the training flags shared by launch.train and launch.crossval, checked before any work."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from launchers import one_error_line, run_command, run_module

from mgc_jax.config import RunId


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


def test_paper_flag_restores_the_papers_settings_and_explicit_flags_win():
    import json
    import subprocess
    import sys

    code = ("import json, sys; from absl import flags; import launch.train_flags as tf; "
            "flags.FLAGS(sys.argv); c = tf.train_config('music', 0); "
            "print(json.dumps({**{k: getattr(c, k) for k in ('standardize', 'stft_transform', 'select', 'epochs', "
            "'crops', 'mixup')}, 'stft_bands': c.model.stft_bands}))")

    def settings(*argv):
        out = subprocess.run([sys.executable, "-c", code, "prog", *argv], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert settings() == {"standardize": True, "stft_transform": "log1p", "select": "last", "epochs": 20,
                          "crops": None, "mixup": None, "stft_bands": 96}
    assert settings("--paper") == {"standardize": False, "stft_transform": "none", "select": "best_valid",
                                   "epochs": 40, "crops": "grid", "mixup": 0.0, "stft_bands": 0}
    assert settings("--stft_bands=96")["stft_bands"] == 96 and settings("--paper", "--stft_bands=48")["stft_bands"] == 48
    assert settings("--paper", "--mixup=0.2")["mixup"] == 0.2
    assert settings("--paper", "--epochs=3", "--standardize")["epochs"] == 3
    assert settings("--paper", "--epochs=3", "--standardize")["standardize"] is True


def test_launcher_flags_reach_the_config():
    code = ("import sys; from absl import flags; from launch import train_flags; "
            "flags.FLAGS(['x', '--features=online', '--augment=gain,shift']); "
            "c = train_flags.train_config('music', 0); print(c.features, ','.join(c.augment)); "
            "flags.FLAGS.unparse_flags(); flags.FLAGS(['x', '--augment=noise'])\n"
            "try: train_flags.train_config('music', 0)\nexcept Exception as e: print(type(e).__name__, e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    assert first == "online gain,shift"
    assert second.startswith("UsageError --augment=('noise',): augmentation acts on the audio")


def test_training_flags_take_their_defaults_from_the_fields():
    # In a subprocess: the flags are global, and launch.extract defines another --batch_size.
    code = ("from launch import train_flags; from mgc_jax.config import train_fields; f = train_fields(); "
            "norm = lambda v: tuple(v) if isinstance(v, list) else v; "  # list flags hold tuple fields
            "bad = [n for n, h in train_flags.FLAGS.items() if norm(h.default) != f[n].default]; "
            "print(len(train_flags.FLAGS), bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["23", "[]"]
    assert RunId._fields == ("net", "fold", "split", "n_folds")


@pytest.mark.parametrize("args,message", [
    (["--seed=18446744073709551616"], r"^error: --seed=18446744073709551616: must be <= 9223372036854775807$"),
    (["--seed=-1"], r"^error: --seed=-1: must be >= 0$"),
    (["--learning_rate=inf"], r"^error: --learning_rate=inf: must be a finite number > 0$"),
    (["--learning_rate=nan"], r"^error: --learning_rate=nan: must be a finite number > 0$"),
    (["--epochs=2147483648"], r"^error: --epochs=2147483648: must be <= 2147483647$"),
    (["--batch_size=99999999999"], r"^error: --batch_size=99999999999: must be <= 2147483647$"),
    (["--lr_decay=nan"], r"^error: --lr_decay=nan: must be in \(0, 1\]$"),
    (["--k1=99999999999"], r"^error: --k1=99999999999: must be <= 2147483647$"),
    (["--n_folds=100000000000000000000"], r"^error: --n_folds=100000000000000000000: expected an int >= 3 and <= 1000"),
    (["--tracks_per_genre=1000000"], r"^error: --tracks_per_genre=1000000: must be <= 100000"),
])
def test_absurd_flags_are_refused_in_one_line_before_any_directory(tmp_path, capsys, args, message):
    from launchers import run_command

    code, _, err = run_command("train", capsys, "--net=music", *args, f"--workdir={tmp_path / 'w'}")
    assert code == 2 and "Traceback" not in err, err
    assert re.search(message, err.strip().splitlines()[-1]), err
    assert not (tmp_path / "w").exists()
