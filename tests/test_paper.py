"""mgc_jax.eval.paper: the paper's numbers (Tables 1 and 2) agree with themselves and with the shared spec."""
from __future__ import annotations

import numpy as np
import pytest
from fake_runs import GTZAN
from paper_spec import check_yaml_block

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
    pytest.importorskip("yaml")
    check_yaml_block((shared_dir / "FEATURES_SPEC.md").read_text(), "the shared FEATURES_SPEC.md")
