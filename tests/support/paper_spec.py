"""The paper's numbers as a spec's yaml block under its heading 4.2 states them, checked against mgc_jax.eval.paper."""
from __future__ import annotations

import re

import numpy as np

from mgc_jax.eval import paper


def check_yaml_block(text: str, where: str) -> None:
    """Assert that the yaml block under heading 4.2 of `text` holds exactly `paper`'s tables and genres."""
    import yaml  # the callers skip without PyYAML

    block = re.search(r"### 4\.2.*?```yaml\n(.*?)```", text, re.S)
    assert block, f"{where} has no yaml block under its heading 4.2"
    spec = yaml.safe_load(block[1])
    assert {k: (v["mean"], v["ci95"]) for k, v in spec["senac2017_table2_accuracy_percent"].items()} == \
        dict(paper.TABLE2)
    assert spec["zhang2016_reported_gtzan_percent"] == paper.ZHANG2016_GTZAN
    assert tuple(spec["genres"]) == paper.GENRES
    table1 = spec["senac2017_table1_confusion_percent"]
    assert set(table1) == set(paper.TABLE1)
    for system, rows in table1.items():
        np.testing.assert_array_equal([rows[g] for g in paper.GENRES], paper.TABLE1[system], err_msg=system)
