"""Run a launch command's main in the test process (faster than a subprocess; absl flags reset after)."""
from __future__ import annotations


def run_in_process(module, capsys, *args) -> tuple[object, str, str]:
    """`module.main` with `args` parsed as its flags: (exit status, stdout, stderr) as captured by `capsys`."""
    from absl import flags

    try:
        argv = flags.FLAGS([module.__name__, *map(str, args)])
        try:
            module.main(argv)
            code = 0
        except SystemExit as e:
            code = e.code
    finally:
        flags.FLAGS.unparse_flags()
    out = capsys.readouterr()
    return code, out.out, out.err


def run_command(module, capsys, *args) -> tuple[object, str, str]:
    """Like `run_in_process`, through `launch.common.one_line_errors` (what `common.run` adds): a refusal is an
    exit status with one `error:` line on stderr, as on the command line."""
    from absl import flags

    from launch import common

    try:
        argv = flags.FLAGS([module.__name__, *map(str, args)])
        try:
            common.one_line_errors(module.main)(argv)
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
