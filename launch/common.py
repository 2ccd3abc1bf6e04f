"""What every `launch` command shares: the `--data_dir` / `--workdir` flags and one-line error exits.

Usage in a command module::

    from launch import common

    def main(argv):
        common.no_extra_args(argv)
        workdir = common.workdir()
        ...

    if __name__ == "__main__":
        common.run(main)

`common.run` is `absl.app.run` with the expected failures of bad input (an `AudioError`,
`DataError`, `dsp.ConfigError`, `app.UsageError`, an `OSError` such as a missing file or a full
disk) turned into one line on stderr, `error: <message>`, and a non-zero exit status (2 for a
usage error, 1 otherwise). Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence

from absl import app, flags

from mgc_jax.errors import AudioError, DataError

DATA_DIR = flags.DEFINE_string(
    "data_dir", None,
    "Corpus folder in a GTZAN layout (genres/<g>/<g>.NNNNN.au, genres_original/<g>/..., or <g>/...). "
    "Without it the built-in synthetic corpus is used (made in the workdir on first use).")
WORKDIR = flags.DEFINE_string(
    "workdir", "workspace",
    "Root of corpora/, features/, splits/, runs/ and results/ (see WORKSPACE.md).")

EXIT_INPUT_ERROR = 1  # bad data, bad file, bad configuration
EXIT_USAGE_ERROR = 2  # bad command line (the usual convention of argparse and getopt tools)


def workdir():
    """The `Workdir` named by `--workdir` (imported here so `--helpfull` does not start the data stack)."""
    from mgc_jax.workdir import Workdir

    return Workdir(WORKDIR.value)


def no_extra_args(argv: Sequence[str]) -> None:
    """Refuse positional arguments a command does not take (absl leaves them in argv)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def _input_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [AudioError, DataError, OSError]
    # A ConfigError can only come from dsp once it is imported; looking it up here instead of importing
    # dsp keeps this module light (and usable while dsp is being written).
    config = sys.modules.get("dsp.config")
    if config is not None:
        errors.append(config.ConfigError)
    return tuple(errors)


def one_line_errors(main: Callable[[list[str]], object]) -> Callable[[list[str]], object]:
    """Wrap an absl `main(argv)` so that bad input ends the process with one line and a non-zero status."""

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except app.UsageError as e:
            _exit(f"error: {e}", EXIT_USAGE_ERROR)
        except _input_errors() as e:
            _exit(f"error: {_one_line(e)}", EXIT_INPUT_ERROR)

    return wrapped


def _one_line(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return " ".join(text.split())  # messages built from file contents may hold newlines


def _exit(message: str, status: int):
    sys.stdout.flush()  # keep what the command already reported above the error line
    print(message, file=sys.stderr, flush=True)
    sys.exit(status)


def run(main: Callable[[list[str]], object]) -> None:
    """`absl.app.run(main)` with `one_line_errors`."""
    app.run(one_line_errors(main))
