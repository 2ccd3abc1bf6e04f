"""What every `launch` command shares: the `--data_dir` / `--workdir` flags, the multi-process flags, and
`common.run`, which turns the expected failures of bad input (AudioError, DataError, ConfigError, UsageError,
OSError, a full disk) into one `error: <message>` line and a non-zero status; anything else is a bug and keeps
its traceback.
"""
from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Sequence

from absl import app, flags

from mgc_jax.errors import AudioError, BackendError, ClusterError, ConfigError, DataError, DiskFullError, is_out_of_memory

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

COORDINATOR_TIMEOUT_S = flags.DEFINE_integer(
    "coordinator_timeout_s", 300, "Multi-process runs: how long a process waits for process 0's coordinator and for "
    "every process to join before it gives up, in seconds.", lower_bound=1, upper_bound=7 * 24 * 3600)

XLA_CACHE = flags.DEFINE_string(
    "xla_cache", os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mgc_jax", "xla"),
    "Folder that keeps compiled XLA programs between runs, shared by every workdir (the feature maps take seconds "
    "to compile per track length and batch shape; so does each net). Empty: compile every run.")

EXIT_INPUT_ERROR = 1  # bad data, bad file, bad configuration
EXIT_USAGE_ERROR = 2  # bad command line (the usual convention of argparse and getopt tools)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as a shell reports it


def workdir():
    """The `Workdir` named by `--workdir` (imported here so `--helpfull` does not start the data stack)."""
    from mgc_jax.workdir import Workdir

    return Workdir(WORKDIR.value)


def say(line: str) -> None:
    """Print a line of a report (the corpus summary) at once, so it stands above any error line that follows."""
    print(line, flush=True)


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
        return ClusterConfig(**given, timeout_s=COORDINATOR_TIMEOUT_S.value)
    except ValueError as e:
        raise app.UsageError(f"--{e}") from e


def join_cluster() -> None:
    """Join the multi-process run the flags describe (nothing for a single process); `run` calls it."""
    c = cluster()
    if c.multi_process:
        from mgc_jax import distributed

        waits_for = "the other processes to join" if c.process_id == 0 else "process 0's coordinator and the others"
        print(f"process {c.process_id} of {c.num_processes}: waiting up to {c.timeout_s} s for {waits_for} at "
              f"{c.coordinator_address}", file=sys.stderr, flush=True)
        distributed.initialize(c)
        print(f"process {c.process_id} of {c.num_processes} (coordinator {c.coordinator_address})", flush=True)


def no_extra_args(argv: Sequence[str]) -> None:
    """Refuse positional arguments a command does not take (absl leaves them in argv)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def _input_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [AudioError, DataError, ConfigError, BackendError, ClusterError, OSError]
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
        except (RuntimeError, ValueError, MemoryError) as e:  # XLA: JaxRuntimeError; orbax: ValueError
            if not is_out_of_memory(e):
                raise
            _exit(f"error: out of memory ({_memory_cause(e)}): {_memory_advice()}", EXIT_INPUT_ERROR)
        except KeyboardInterrupt:  # Ctrl-C: finished epochs and extracted tracks are on disk; say so, no traceback
            _exit("interrupted: what finished is on disk (epochs, extracted features); the same command resumes "
                  "from there", EXIT_INTERRUPTED)

    return wrapped


def _memory_cause(e: BaseException) -> str:
    if isinstance(e, MemoryError):
        return f"host: {e}" if str(e) else "host"
    first = next((line for line in str(e).splitlines() if "RESOURCE_EXHAUSTED" in line), str(e))
    return "device: " + " ".join(first.replace("RESOURCE_EXHAUSTED:", "").split())[:200]


def _memory_advice() -> str:
    """What the running command lets the user lower (the flags it defines)."""
    knobs = [f"--{n}" for n in ("batch_size", "eval_batch_size", "k1", "max_clips", "max_tracks")
             if n in flags.FLAGS]
    return (f"lower {' or '.join(knobs)}" if knobs else "use shorter inputs") + \
        ", or run on a device with more memory"


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
        compile_cache()
        join_cluster()
        return main(argv)

    tolerant_streams()
    app.run(one_line_errors(joined))


def compile_cache() -> None:
    """Keep compiled programs in `--xla_cache` (JAX's persistent compilation cache); a folder that cannot be made
    is named in a warning and the run compiles as usual."""
    path = XLA_CACHE.value
    if not path:
        return
    try:
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "not writable")
    except OSError as e:
        print(f"warning: --xla_cache={path}: {e.strerror or e}; compiling without a cache", file=sys.stderr)
        return
    import jax  # here, not at the top: `--helpfull` and usage errors must not wait for JAX to load

    jax.config.update("jax_compilation_cache_dir", path)


def tolerant_streams() -> None:
    """Let stdout and stderr write what their encoding cannot (PYTHONIOENCODING=ascii, a cron job's C locale, a
    legacy console; a file name that is not UTF-8) as backslash escapes instead of raising UnicodeEncodeError:
    a file name is data, and the results around it must not be lost over it."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
