"""The first cell every notebook in notebooks/ shares: repository root as working folder, the optional
environment variables (DATA_DIR, MGC_WORKDIR, MGC_NB_TRACKS_PER_GENRE, MGC_NB_EPOCHS) and figure output.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib

from mgc_jax.workdir import Workdir


@dataclasses.dataclass(frozen=True)
class Notebook:
    root: pathlib.Path  # the repository root (the working folder after `setup`)
    data_dir: str | None  # DATA_DIR, None for the built-in synthetic corpus
    workdir: Workdir
    per_genre: int | None  # MGC_NB_TRACKS_PER_GENRE, None when unset
    epochs: int  # MGC_NB_EPOCHS
    fig_dir: pathlib.Path  # <workdir>/figures

    def show(self, fig, name: str) -> None:
        """Save a figure under <workdir>/figures/ and display it."""
        from IPython.display import display

        fig.savefig(self.fig_dir / name, dpi=110)
        display(fig)
        print("wrote", self.fig_dir / name)


def repository_root(cwd: pathlib.Path | None = None) -> pathlib.Path:
    """The repository root whether Jupyter started there or in notebooks/."""
    cwd = pathlib.Path.cwd() if cwd is None else pathlib.Path(cwd)
    return cwd.parent if cwd.name == "notebooks" else cwd


def _int_env(name: str, default: int | None) -> int | None:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected a positive integer") from None
    if value <= 0:
        raise ValueError(f"{name}={text!r}: expected a positive integer")
    return value


def setup(root: str | os.PathLike | None = None) -> Notebook:
    """Change to the repository root, read the notebook variables and make the figure folder."""
    root = repository_root() if root is None else pathlib.Path(root)
    os.chdir(root)
    workdir = Workdir(os.environ.get("MGC_WORKDIR", "workspace"))
    fig_dir = workdir.root / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    return Notebook(root=root, data_dir=os.environ.get("DATA_DIR") or None, workdir=workdir,
                    per_genre=_int_env("MGC_NB_TRACKS_PER_GENRE", None), epochs=_int_env("MGC_NB_EPOCHS", 5),
                    fig_dir=fig_dir)
