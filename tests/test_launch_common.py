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


def _compile_cache_with(value: str) -> str | None:
    """Run `common.compile_cache` with --xla_cache=value; JAX's cache folder afterwards (restored after)."""
    import jax
    from absl import flags

    before = jax.config.jax_compilation_cache_dir
    try:
        flags.FLAGS(["cmd", f"--xla_cache={value}"])
        common.compile_cache()
        return jax.config.jax_compilation_cache_dir
    finally:
        flags.FLAGS.unparse_flags()
        jax.config.update("jax_compilation_cache_dir", before)


def test_xla_cache_keeps_compiled_programs_in_the_folder_named(tmp_path):
    folder = tmp_path / "made" / "xla"
    assert _compile_cache_with(str(folder)) == str(folder) and folder.is_dir()


def test_an_unusable_xla_cache_is_a_warning_and_the_run_compiles_as_usual(tmp_path, capsys):
    import jax

    before = jax.config.jax_compilation_cache_dir
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert _compile_cache_with(str(blocker / "xla")) == before
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: --xla_cache={blocker / 'xla'}: ")
    assert _compile_cache_with("") == before  # empty: no cache


def test_a_second_run_reads_its_compiled_maps_from_the_xla_cache(tmp_path):
    """Two extractions on fresh workdirs: the second one's maps come from the programs the first one compiled."""
    import numpy as np
    import soundfile as sf

    for k, label in enumerate(("a", "b")):
        (tmp_path / "corpus" / label).mkdir(parents=True)
        x = np.sin(np.arange(22050 * 7) * (0.05 + 0.02 * k)).astype(np.float32) * 0.3
        sf.write(tmp_path / "corpus" / label / f"{label}.wav", x, 22050)
    cache = tmp_path / "xla"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])),
           "JAX_DEBUG_LOG_MODULES": "jax._src.compilation_cache,jax._src.compiler"}
    logs = []
    for run in ("first", "second"):
        proc = subprocess.run([sys.executable, "-m", "launch.extract", f"--data_dir={tmp_path / 'corpus'}",
                               f"--workdir={tmp_path / run}", f"--xla_cache={cache}", "--noprogress"], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        logs.append(proc.stderr)
    hit = "Persistent compilation cache hit"
    assert hit not in logs[0] and any(cache.iterdir()), "the first run wrote no compiled program"
    assert hit in logs[1], logs[1][-3000:]
