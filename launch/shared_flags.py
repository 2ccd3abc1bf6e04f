"""Flags that several commands define alike, defined once here so that commands imported into one process
(tests, notebooks) do not register them twice: --checkpoint (launch.predict, launch.robustness), --json
(launch.predict, launch.robustness, launch.fuse, launch.runs) and --tensorboard (launch.train, launch.crossval,
launch.fuse)."""
from __future__ import annotations

from absl import flags

CHECKPOINT = flags.DEFINE_multi_string("checkpoint", None, "Run directory of a trained net (give two to fuse).")
JSON = flags.DEFINE_bool("json", False, "Print one JSON document instead of text.")
TENSORBOARD = flags.DEFINE_bool("tensorboard", True, "Write TensorBoard event files: a run's curves, test results and "
                                "hparams beside its metrics.jsonl, crossval's and fuse's tables in the results "
                                "directory (tensorboard --logdir=WORKDIR). --notensorboard: none.")
