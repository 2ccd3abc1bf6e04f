"""launch.common: what every command shares (one `error:` line per refusal, exit statuses, Ctrl-C)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from launch import common


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


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _exit_of(main, capsys):
    with pytest.raises(SystemExit) as e:
        common.one_line_errors(main)(["cmd"])
    err = capsys.readouterr().err
    return e.value.code, err


def test_an_xla_out_of_memory_is_one_line_saying_what_to_lower(capsys):
    import jax
    import jax.numpy as jnp

    def main(argv):  # 800 GB: refused by XLA's allocator with RESOURCE_EXHAUSTED
        jax.jit(lambda: jnp.ones((200_000_000_000,), jnp.float32))().block_until_ready()

    from launchers import command

    with command("train"):  # its flags name what to lower
        code, err = _exit_of(main, capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0] == ("error: out of memory (device: Out of memory allocating 800000000000 bytes.): lower "
                        "--batch_size or --k1, or run on a device with more memory")


def test_a_host_out_of_memory_is_one_line(capsys):
    import numpy as np

    code, err = _exit_of(lambda argv: np.ones((200_000_000_000,), np.float32), capsys)
    assert code == 1 and err.strip().startswith("error: out of memory (host: Unable to allocate")
    assert len(err.strip().splitlines()) == 1


def test_other_runtime_errors_keep_their_traceback():
    def main(argv):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        common.one_line_errors(main)(["cmd"])


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU: cuda starts")
@pytest.mark.parametrize("command", [["launch.train", "--net=music"], ["launch.predict", "--checkpoint=RUN", "a.wav"]])
def test_a_backend_jax_cannot_start_is_one_line(tmp_path, command):
    run = tmp_path / "run"  # a run directory that looks real: predict must not blame its checkpoints
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"train": {"net": "music", "fold": 0}, "in_bins": {"music": 8}}')
    args = [a.replace("RUN", str(run)) for a in command]
    path = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "JAX_PLATFORMS": "cuda", "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, "-m", *args, f"--workdir={tmp_path / 'w'}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert last.startswith("error: JAX cannot start a backend (JAX_PLATFORMS='cuda')") and "checkpoint" not in last
    assert not (tmp_path / "w").exists()
