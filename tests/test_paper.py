"""mgc_jax.eval.paper: the paper's numbers (Tables 1 and 2) agree with themselves and with the shared spec."""
from __future__ import annotations

import re

import numpy as np
import pytest
from fake_runs import GTZAN

from mgc_jax.eval import paper


def test_table1_rows_sum_to_100_and_diagonals_match_the_papers_check():
    for system, m in paper.TABLE1.items():
        assert m.shape == (10, 10)
        np.testing.assert_array_equal(m.sum(axis=1), 100, err_msg=system)
    # docs/features.md §4.2's consistency check: diagonal means STFT 87.7, MUSIC 89.3, FUSION2 91.0 (one decimal)
    assert [round(float(np.diag(paper.TABLE1[s]).mean()), 1) for s in ("net_STFT", "net_MUSIC", "FUSION2")] == \
        [87.7, 89.3, 91.0]
    assert paper.GENRES == GTZAN


def test_paper_numbers_equal_the_specs_yaml(shared_dir):
    yaml = pytest.importorskip("yaml")
    text = (shared_dir / "FEATURES_SPEC.md").read_text()
    block = re.search(r"### 4\.2.*?```yaml\n(.*?)```", text, re.S)
    assert block, "the shared FEATURES_SPEC.md has no yaml block under its heading 4.2"
    spec = yaml.safe_load(block[1])
    assert {k: (v["mean"], v["ci95"]) for k, v in spec["senac2017_table2_accuracy_percent"].items()} == \
        dict(paper.TABLE2)
    assert spec["zhang2016_reported_gtzan_percent"] == paper.ZHANG2016_GTZAN
    assert tuple(spec["genres"]) == paper.GENRES
    table1 = spec["senac2017_table1_confusion_percent"]
    assert set(table1) == set(paper.TABLE1)
    for system, rows in table1.items():
        np.testing.assert_array_equal([rows[g] for g in paper.GENRES], paper.TABLE1[system], err_msg=system)
