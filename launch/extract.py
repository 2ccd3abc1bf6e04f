"""Extract the feature cache (music [T, 8] and STFT [T, 513] maps) of a corpus.

    python -m launch.extract --data_dir=DIR --workdir=W     # a GTZAN-layout folder
    python -m launch.extract                                # the built-in synthetic corpus (made on first use)

Prints where the features went, what was extracted or already there, and every file not used with its
cause. Exits 0 when at least one track is cached; a second run finds everything done and does no work.
"""
from __future__ import annotations

from absl import flags

from launch import common

BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Tracks per vmapped extraction batch.", lower_bound=1)
PROGRESS = flags.DEFINE_boolean("progress", True, "Show a progress bar.")


def main(argv):
    common.no_extra_args(argv)
    from mgc_jax.corpus import prepare_corpus

    corpus = prepare_corpus(common.DATA_DIR.value, common.workdir(), progress=PROGRESS.value,
                            batch_size=BATCH_SIZE.value)
    report = corpus.report
    print(f"corpus {corpus.name}: {corpus.root}")
    print(f"features: {corpus.cache.directory}")
    speed = f" in {report.seconds:.1f} s" if report.done else ""
    print(f"  {len(report.done)} tracks extracted now{speed}, {len(report.skipped)} already cached, "
          f"{len(corpus.tracks)} usable")
    if corpus.problems:
        print(f"{len(corpus.problems)} files not used:")
        for path, cause in corpus.problems:
            print(f"  {path}: {cause}")


if __name__ == "__main__":
    common.run(main)
