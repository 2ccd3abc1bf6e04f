"""List the runs of a workdir, one table row each: `python -m launch.runs --workdir=W`.

Reads every run directory under W/runs (`mgc_jax.eval.runs`; nothing is trained or written) and prints a
markdown table that pastes into a paper or an issue: corpus, split, net, fold, seed, epochs done of planned,
status (running, finished, interrupted, stale: made by other dsp code, damaged), validation and test track
accuracy, training time and date.

    python -m launch.runs                                  # ./workspace
    python -m launch.runs --workdir=/scratch/mgc --net=music --corpus=gtzan
    python -m launch.runs --json                           # {"workdir": ..., "runs": [{corpus, split, net, ...}]}
"""
from __future__ import annotations

import json

from absl import flags

from launch import common
from launch.shared_flags import JSON

NET = flags.DEFINE_string("net", None, "Only the runs of this net (stft, music, early, baseline).")
CORPUS = flags.DEFINE_string("corpus", None, "Only the runs of this corpus (its folder name under runs/).")


def main(argv):
    common.no_extra_args(argv)
    import dsp
    from mgc_jax.eval import runs

    workdir = common.workdir()
    code = dsp.code_hash() if hasattr(dsp, "code_hash") else None  # TODO(watch): dsp.code_hash once on main
    rows = runs.list_runs(workdir, net=NET.value, corpus=CORPUS.value, code_hash=code)
    if JSON.value:
        print(json.dumps({"workdir": str(workdir.root), "runs": runs.as_json(rows)}, indent=1))
    elif not rows:
        print(f"no runs under {workdir.root / 'runs'}" + (" matching the filters" if NET.value or CORPUS.value else ""))
    else:
        print(runs.markdown_table(rows), end="")


if __name__ == "__main__":
    common.run(main)
