"""What every `launch` command shares: the `--data_dir` / `--workdir` flags, the multi-process flags and
one-line error exits.

Usage in a command module::

    from launch import common

    def main(argv):
        common.no_extra_args(argv)
        workdir = common.workdir()
        ...

    if __name__ == "__main__":
        common.run(main)

`common.run` is `absl.app.run` with the expected failures of bad input (an `AudioError`,
`DataError`, a `ConfigError` (mgc_jax's or dsp's), `app.UsageError`, an `OSError` such as a missing file or a full
disk) turned into one line on stderr, `error: <message>`, and a non-zero exit status (2 for a
usage error, 1 otherwise). A full disk reads "no space left on device writing PATH" (`errors.DiskFullError`;
nothing half-written is left, so the same command resumes once there is space). Anything else is a bug and
keeps its traceback.

What each kind of bad request gives (tests/test_refusals.py, test_disk_full.py, test_faults.py check each row;
"refused" = one `error:` line, a non-zero exit status, and no file changed; audio inputs: `mgc_jax.data.audio`):

    request                           result
    --------------------------------  -----------------------------------------------------------------------
    --tracks_per_genre=0 or -5        refused before any work: "--tracks_per_genre=N: must be >= 1" (0 is a
                                      value, not "unset")
    --folds=10, --folds=0-20          refused before the first run: "--folds=0-20: fold 10 out of range: the
                                      stratified split has folds 0..9"
    --epochs=20 on a 40-epoch run     refused: "RUN already has 40 epochs; run with epochs >= 40"; config.json
                                      and every other file left as they were
    a corpus of one class             refused before extraction or training (GTZAN layout, synthetic, labelled
                                      folder, manifest): "ROOT: every usable track is of one class (blues)..."
    disk full (ENOSPC)                "no space left on device writing PATH" (cache, index, run files, orbax
                                      checkpoint); nothing half-written: the same command then resumes
    best epoch's checkpoint deleted   refused: "RUN/checkpoints: the checkpoint of the best epoch N
                                      (result.json) is missing (kept: ...); restore it, or run launch.train
                                      again ..."; never a silent switch to another epoch
    damaged checkpoint arrays         "RUN/checkpoints/N: damaged checkpoint (its array files cannot be read);
                                      delete this directory ..." (orbax's own text stays out of it)
    --checkpoint=R --checkpoint=R     refused: "--checkpoint=R given twice: fusion needs two runs of different
                                      nets"; two runs of one net: "A and B are both music runs: ..."
    cached .npy rotted, same mtime    trusted (only a changed mtime triggers a re-hash); `launch.extract
                                      --verify` re-hashes every file and extracts again what differs

Several processes (hosts): start the same command once per process with `--coordinator_address=HOST:PORT
--num_processes=N --process_id=I` (HOST:PORT reachable from every process; process 0 serves it).
`common.run` joins the run (`mgc_jax.distributed.initialize`) before `main` touches a device. `launch.extract`
then splits the corpus between the processes, `launch.train` splits every batch (WORKSPACE.md).
"""
from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable, Sequence

from absl import app, flags

from mgc_jax.errors import AudioError, ConfigError, DataError, DiskFullError

DATA_DIR = flags.DEFINE_string(
    "data_dir", None,
    "Corpus: a folder in a GTZAN layout (genres/<g>/<g>.NNNNN.au, genres_original/<g>/..., or <g>/...), a "
    "labelled folder (<dir>/<class>/**/<audio file>) or a CSV manifest (PATH.csv: path,label[,artist,split,"
    "track_id]). Without it the built-in synthetic corpus is used (made in the workdir on first use).")
WORKDIR = flags.DEFINE_string(
    "workdir", "workspace",
    "Root of corpora/, features/, splits/, runs/ and results/ (see WORKSPACE.md).")

COORDINATOR_ADDRESS = flags.DEFINE_string(
    "coordinator_address", None,
    "Multi-process runs: host:port of process 0's coordinator (e.g. 127.0.0.1:8476 for processes on one "
    "machine). Every process gets the same value. Without it the command runs as a single process.")
NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-process runs: how many processes (>= 1).",
                                     lower_bound=1)
PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-process runs: this process's index, 0..N-1.",
                                  lower_bound=0)

EXIT_INPUT_ERROR = 1  # bad data, bad file, bad configuration
EXIT_USAGE_ERROR = 2  # bad command line (the usual convention of argparse and getopt tools)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as a shell reports it


def workdir():
    """The `Workdir` named by `--workdir` (imported here so `--helpfull` does not start the data stack)."""
    from mgc_jax.workdir import Workdir

    return Workdir(WORKDIR.value)


def cluster():
    """The `mgc_jax.distributed.ClusterConfig` named by the three multi-process flags (a usage error if they
    are inconsistent: given without --coordinator_address, or --process_id out of range)."""
    from mgc_jax.distributed import ClusterConfig

    given = {n: f.value for n, f in (("coordinator_address", COORDINATOR_ADDRESS), ("num_processes", NUM_PROCESSES),
                                     ("process_id", PROCESS_ID)) if f.value is not None}
    if not given:
        return ClusterConfig()
    missing = [f"--{n}" for n in ("coordinator_address", "num_processes", "process_id") if n not in given]
    if missing:
        raise app.UsageError(f"a multi-process run needs --coordinator_address, --num_processes and --process_id "
                             f"together ({', '.join(missing)} missing)")
    try:
        return ClusterConfig(**given)
    except ValueError as e:
        raise app.UsageError(f"--{e}") from e


def join_cluster() -> None:
    """Join the multi-process run the flags describe (nothing for a single process); `run` calls it."""
    c = cluster()
    if c.multi_process:
        from mgc_jax import distributed

        distributed.initialize(c)
        print(f"process {c.process_id} of {c.num_processes} (coordinator {c.coordinator_address})", flush=True)


def no_extra_args(argv: Sequence[str]) -> None:
    """Refuse positional arguments a command does not take (absl leaves them in argv)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def _input_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [AudioError, DataError, ConfigError, OSError]
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
        except KeyboardInterrupt:  # Ctrl-C: finished epochs and extracted tracks are on disk; say so, no traceback
            _exit("interrupted: what finished is on disk (epochs, extracted features); the same command resumes "
                  "from there", EXIT_INTERRUPTED)

    return wrapped


def _one_line(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    if isinstance(e, OSError) and e.errno == errno.ENOSPC and not isinstance(e, DiskFullError):
        text = f"no space left on device writing {e.filename}" if e.filename else "no space left on device"
    return " ".join(text.split())  # messages built from file contents may hold newlines


def _exit(message: str, status: int):
    sys.stdout.flush()  # keep what the command already reported above the error line
    print(message, file=sys.stderr, flush=True)
    sys.exit(status)


def run(main: Callable[[list[str]], object]) -> None:
    """`absl.app.run(main)` with `one_line_errors`, after joining the multi-process run the flags name."""

    @functools.wraps(main)
    def joined(argv):
        join_cluster()
        return main(argv)

    app.run(one_line_errors(joined))
