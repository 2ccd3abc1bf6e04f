"""Run a launch command: its main in the test process (faster; absl flags reset after), or `python -m` in a
subprocess (a fresh process: real exit codes, stderr as the user sees it)."""
from __future__ import annotations

import contextlib
import importlib
import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]

# absl flags are process-global, and command families define flags of the same name: launch.extract's
# --batch_size (tracks per extraction batch) and launch.train_flags' (clips per training step); launch.fuse's
# --fold, --split and --n_folds and launch.train's; launch.runs' --net and launch.train's.
_FAMILIES = {"extract": ("launch.extract",),
             "train": ("launch.crossval", "launch.train", "launch.train_flags"),
             "fuse": ("launch.fuse",),
             "runs": ("launch.runs",)}


def _family(name: str) -> str | None:
    if name in ("train", "crossval", "train_flags"):
        return "train"
    return name if name in _FAMILIES else None


def _forget(family: str) -> None:
    """Drop a family's modules and the flags they defined, so the other family can define its own."""
    from absl import flags

    import launch

    by_module = flags.FLAGS.flags_by_module_dict()
    for module in _FAMILIES[family]:
        if module not in sys.modules:
            continue
        for flag in list(by_module.get(module, [])):  # a copy: deleting a flag edits absl's list
            if flag.name in flags.FLAGS:
                delattr(flags.FLAGS, flag.name)
        del sys.modules[module]
        with contextlib.suppress(AttributeError):
            delattr(launch, module.rsplit(".", 1)[1])


@contextlib.contextmanager
def command(name: str):
    """`launch.<name>` imported for the `with` block, the clashing family forgotten before and its own after, so
    tests that import launch.extract and launch.train in one pytest process both work, in any order."""
    family = _family(name)
    for other in _FAMILIES:
        if family is not None and other != family:
            _forget(other)
    try:
        yield importlib.import_module(f"launch.{name}")
    finally:
        if family is not None:
            _forget(family)


def run_in_process(module, capsys, *args) -> tuple[object, str, str]:
    """`module.main` with `args` parsed as its flags: (exit status, stdout, stderr) as captured by `capsys`."""
    return _run(module.main, module.__name__, capsys, args)


def run_command(module, capsys, *args) -> tuple[object, str, str]:
    """Like `run_in_process`, through `launch.common.one_line_errors` (what `common.run` adds): a refusal is an
    exit status with one `error:` line on stderr, as on the command line. `module` may be a command's name
    ("train"), imported for this call with `command`."""
    from launch import common

    if isinstance(module, str):
        with command(module) as m:
            return run_command(m, capsys, *args)
    return _run(common.one_line_errors(module.main), module.__name__, capsys, args)


def _run(main, name: str, capsys, args) -> tuple[object, str, str]:
    from absl import flags

    try:
        argv = flags.FLAGS([name, *map(str, args)])
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code
    finally:
        flags.FLAGS.unparse_flags()
    out = capsys.readouterr()
    return code, out.out, out.err


def snapshot(root) -> dict:
    """path -> (size, mtime_ns, bytes) of every file under `root`: a refused command must leave it equal."""
    import pathlib

    root = pathlib.Path(root)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_module(module: str, *args, cwd=None, timeout=900, env=None) -> subprocess.CompletedProcess:
    """`python -m <module> args` from the repository root (or `cwd`), this checkout first on PYTHONPATH; `env`: more
    environment variables."""
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_module_ok(module: str, *args, timeout=900) -> subprocess.CompletedProcess:
    """`run_module` that must exit 0 (else the test fails with the end of its stderr)."""
    proc = run_module(module, *args, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def one_error_line(code, err, expected_code, pattern) -> None:
    """The exit status is `expected_code` and stderr ends with its only `error:` line, which matches `pattern`."""
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert code == expected_code, err
    assert len(lines) == 1 and re.search(pattern, lines[0]) and err.strip().endswith(lines[0]), err
    assert "Traceback" not in err
