"""mgc_jax.train.rundir: the files of a run directory (config, metrics, test probabilities, result) and what they say."""
from __future__ import annotations

import numpy as np
import pytest
from full_disk import ENOSPC

from mgc_jax.errors import DiskFullError
from mgc_jax.train import rundir


def test_old_runs_without_classes_read_as_gtzan(tmp_path):
    from fake_runs import write_run

    from mgc_jax.data.gtzan import GENRES

    d = tmp_path / "run"
    write_run(d, ["blues.00000"], np.array([0]), [np.full((2, 10), 0.1, np.float32)], GENRES)
    (d / rundir.TEST_PROBS).unlink()
    assert rundir.run_classes(d) == GENRES  # neither config classes nor test probabilities: GTZAN's
    assert rundir.run_corpus_kind({"corpus": "synthetic"}) == "synthetic"
    assert rundir.run_corpus_kind({"corpus": "gtzan"}) == "gtzan"


def test_metrics_append_names_the_file(tmp_path, monkeypatch):
    import builtins

    from mgc_jax.train import rundir

    real_open = builtins.open

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            raise ENOSPC

    monkeypatch.setattr(builtins, "open", lambda p, mode="r", *a, **k: Full(real_open(p, mode, *a, **k))
                        if str(p).endswith(rundir.METRICS) else real_open(p, mode, *a, **k))
    with pytest.raises(DiskFullError, match=f"^no space left on device writing {tmp_path / rundir.METRICS}$"):
        rundir.append_metrics(tmp_path, {"epoch": 1})
