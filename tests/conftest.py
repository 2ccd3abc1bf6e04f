"""Shared fixtures: the real GTZAN dev clips and MIRToolbox golden outputs in ../shared (skip if absent)."""
from __future__ import annotations

import csv
import os
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# ../shared beside the checkout; MGC_SHARED overrides it (e.g. a CI layout with shared/ elsewhere).
SHARED = pathlib.Path(os.environ.get("MGC_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: tests on real GTZAN audio and MIRToolbox outputs are skipped")
    return SHARED


@pytest.fixture(scope="session")
def gtzan_dev_clips(shared_dir) -> list[pathlib.Path]:
    clips = sorted((shared_dir / "gtzan_dev").glob("*/*.au"))
    if not clips:
        pytest.skip(f"no GTZAN dev clips under {shared_dir / 'gtzan_dev'}")
    return clips


def read_golden(shared: pathlib.Path, clip: str, feature: str) -> np.ndarray | None:
    """MIRToolbox output `<clip>_<feature>.csv` as float64 [rows, 3] (start_s, end_s, value); None if absent."""
    path = shared / "mirtoolbox_golden" / f"{clip}_{feature}.csv"
    if not path.exists():
        return None
    with open(path) as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith(("frame", "#"))]
    return np.array([[float(v) if v.lower() != "nan" else np.nan for v in r] for r in rows], dtype=np.float64)


@pytest.fixture(scope="session")
def golden(shared_dir):
    """golden(clip, feature) -> float64 [rows, 3] or pytest.skip when that file is absent."""

    def load(clip: str, feature: str) -> np.ndarray:
        arr = read_golden(shared_dir, clip, feature)
        if arr is None:
            pytest.skip(f"no MIRToolbox golden file for {clip} {feature}")
        return arr

    return load
