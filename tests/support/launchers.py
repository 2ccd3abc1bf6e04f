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
