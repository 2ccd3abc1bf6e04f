"""The workdir layout: every path a command reads or writes (corpora, features, splits, runs, results; see
WORKSPACE.md), and the atomic file writers. Methods only compute paths; writers create what they need.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import operator
import os
import pathlib
import tempfile

import mgc_jax.config
from mgc_jax.config import N_FOLDS, split_dir_name
from mgc_jax.errors import DataError, DiskFullError, is_disk_full


LAYOUT_DIRS = ("corpora", "features", "splits", "runs", "results")
WORKDIR_CAUSE = "a workdir (corpora/, features/, runs/...): its files are never part of a corpus"


def is_workdir(folder: str | os.PathLike) -> bool:
    """Whether `folder` looks like a workdir: two of LAYOUT_DIRS, or a built-in corpus in corpora/synthetic.
    Corpus discovery skips such folders (a workdir inside --data_dir would otherwise become a class)."""
    folder = pathlib.Path(folder)
    try:
        return (sum((folder / d).is_dir() for d in LAYOUT_DIRS) >= 2
                or (folder / "corpora" / "synthetic").is_dir())
    except OSError:
        return False


def _name(kind: str, value: str) -> str:
    """A path component: refuse separators and dot names, which would escape the layout."""
    value = str(value)
    if not value or value in (".", "..") or "/" in value or (os.sep in value) or "\0" in value:
        raise DataError(f"{kind} {value!r} cannot name a folder of the workdir")
    return value


@dataclasses.dataclass(frozen=True)
class Workdir:
    """Root of one workspace; `Workdir("workspace")` is the default of every command's `--workdir`."""

    root: pathlib.Path = pathlib.Path("workspace")

    def __post_init__(self):
        object.__setattr__(self, "root", pathlib.Path(self.root))

    def corpus_dir(self, name: str) -> pathlib.Path:
        return self.root / "corpora" / _name("corpus", name)

    def skipped_file(self, corpus: str) -> pathlib.Path:
        """corpora/<corpus>/skipped.tsv: every file of the corpus not used, with its cause (`mgc_jax.data.summary`)."""
        return self.corpus_dir(corpus) / "skipped.tsv"

    def features_dir(self, corpus: str, cfg) -> pathlib.Path:
        """features/<corpus>-<cfg.hash()>-<config.dsp_code_hash()>: one cache per corpus, FeatureConfig and dsp
        code, so maps of other dsp code never share (or overwrite) a cache (`other_feature_dirs` names them)."""
        return self.root / "features" / f"{_name('corpus', corpus)}-{cfg.hash()}-{mgc_jax.config.dsp_code_hash()}"

    def other_feature_dirs(self, corpus: str, cfg) -> list[pathlib.Path]:
        """Caches of this corpus and configuration made by other dsp code (or before the code hash named the
        folder): kept apart from `features_dir`, never read by it."""
        here = self.features_dir(corpus, cfg)
        prefix = f"{_name('corpus', corpus)}-{cfg.hash()}"
        return sorted(p for p in here.parent.glob(f"{prefix}*")
                      if p != here and p.is_dir() and (p.name == prefix or p.name[len(prefix)] == "-"))

    def split_file(self, corpus: str, split: str) -> pathlib.Path:
        return self.root / "splits" / f"{_name('corpus', corpus)}-{_name('split', split)}.json"

    def run_dir(self, corpus: str, split: str, net: str, fold: int, *, n_folds: int = N_FOLDS) -> pathlib.Path:
        try:
            fold = operator.index(fold)
        except TypeError:
            raise DataError(f"fold {fold!r} must be an int") from None
        if fold < 0:
            raise DataError(f"fold {fold} must be >= 0")
        return (self.root / "runs" / _name("corpus", corpus) / _name("split", split_dir_name(split, n_folds))
                / _name("net", net) / f"fold{fold}")

    def results_dir(self, corpus: str, split: str, *, n_folds: int = N_FOLDS) -> pathlib.Path:
        return self.root / "results" / _name("corpus", corpus) / _name("split", split_dir_name(split, n_folds))


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside `path`; on success fsync it and rename it onto `path`.

    A killed process leaves at most a `.<name>.*.tmp` file, never a half-written `path` that looks
    finished (the rename is atomic on POSIX file systems). A full disk raises `DiskFullError` naming `path`
    (the temporary file removed, an older `path` left as it was). The file gets the mode `open()` would give
    it (0666 less the umask), not mkstemp's 0600: a shared or multi-host workdir must stay readable.
    """
    path = pathlib.Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        _raise_if_disk_full(e, path)
        raise
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _raise_if_disk_full(e, path)
        raise


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask can only be read by
    setting it, which would race with other threads creating files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _raise_if_disk_full(e: BaseException, path) -> None:
    if not isinstance(e, DiskFullError) and is_disk_full(e):
        raise DiskFullError(path) from e


def write_json(path: str | os.PathLike, obj) -> None:
    """Write `obj` as indented JSON, atomically (with fsync): the one JSON writer of the workdir's files."""
    with atomic_write(path, "w") as f:
        f.write(json.dumps(obj, indent=2) + "\n")


def read_json(path: str | os.PathLike):
    """Read a JSON file written by `write_json`; a DataError names the file if it is not valid JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:  # binary garbage is not JSON either
        raise DataError(f"{path}: not valid JSON ({e}); delete it to have it rebuilt") from e
