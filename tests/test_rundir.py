"""mgc_jax.train.rundir: the files of a run directory (config, metrics, test probabilities, result) and what they say."""
from __future__ import annotations

import numpy as np

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
