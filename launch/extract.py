"""Extract the feature cache (music [T, 8] and STFT [T, 513] maps) of a corpus.

    python -m launch.extract --data_dir=DIR --workdir=W     # a GTZAN-layout folder
    python -m launch.extract                                # the built-in synthetic corpus (made on first use)

First prints what the corpus holds (classes, tracks and hours per class, formats, the files not used counted
by cause with the first few named; all of them in <workdir>/corpora/<corpus>/skipped.tsv), then where the
features went and what was extracted or already there. No labels are needed: a folder of one class, a folder
of audio files without class folders, or a manifest of one label is extracted too. Exits 0 when at least one
track is cached; a second run finds everything done and does no work.
With --verify every cached .npy is re-hashed against its recorded SHA-256 and what rotted is extracted again
and listed (`mgc_jax.data.cache`, "Trust and --verify"):

    python -m launch.extract --data_dir=DIR --verify

Each batch is split over the machine's devices. Several processes share the work with the multi-process
flags of `launch.common`; on one machine, for example (WORKSPACE.md, "Many devices and hosts"):

    python -m launch.extract --coordinator_address=127.0.0.1:8476 --num_processes=2 --process_id=0 &
    python -m launch.extract --coordinator_address=127.0.0.1:8476 --num_processes=2 --process_id=1

Process k extracts every N-th track (sorted by id) into the shared cache and records it in
`index.process<k>.json`; both print the whole corpus once every process is done.
"""
from __future__ import annotations

from absl import flags

from launch import common

BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Tracks per extraction batch, split over this process's devices "
                                  "(rounded up to a multiple of their count).", lower_bound=1)
DECODE_THREADS = flags.DEFINE_integer("decode_threads", None, "Threads decoding and resampling files while earlier "
                                      "files' maps are computed (default: one per CPU core; 0: one file after "
                                      "another in the main thread, the same cache).", lower_bound=0)
STFT_DTYPE = flags.DEFINE_enum("stft_dtype", None, ["float32", "float16"], "Storage of the STFT maps: float16 "
                                "halves the cache (read back as float32; WORKSPACE.md, 'Data decisions'); default: "
                                "cached maps as they are, new ones float32. Maps in the other dtype are rebuilt.")
PROGRESS = flags.DEFINE_boolean("progress", True, "Show a progress bar.")
VERIFY = flags.DEFINE_boolean("verify", False, "Re-hash every cached .npy against the SHA-256 in the index and "
                              "extract again what rotted (otherwise an unchanged mtime vouches for a file; reads "
                              "the whole cache: ~1 GB for GTZAN).")


def main(argv):
    common.no_extra_args(argv)
    from mgc_jax.data.corpus import prepare_corpus

    # Extraction needs no labels: one class, or audio files without class folders, are extracted too.
    corpus = prepare_corpus(common.DATA_DIR.value, common.workdir(), progress=PROGRESS.value,
                            batch_size=BATCH_SIZE.value, verify=VERIFY.value, decode_threads=DECODE_THREADS.value,
                            stft_dtype=STFT_DTYPE.value, labelled=False, echo=common.say)
    import jax

    report = corpus.report
    print(f"corpus {corpus.name}: {corpus.root}")
    print(f"features: {corpus.cache.directory}")
    speed = f" in {report.seconds:.1f} s" if report.done else ""
    who = "" if jax.process_count() == 1 else f" by process {jax.process_index()} of {jax.process_count()}"
    print(f"  {len(report.done)} tracks extracted now{who}{speed}, {len(report.skipped)} already cached, "
          f"{len(corpus.tracks)} usable")
    print(f"  on {jax.local_device_count()} {jax.default_backend()} device(s), each batch split over them")
    if VERIFY.value:
        print(f"verified {report.verified} cached files against their SHA-256: "
              + (f"{len(report.rotted)} extracted again" if report.rotted else "all intact"))
        for path, why in report.rotted:
            print(f"  {path}: {why}")
    if corpus.problems:  # counted by cause in the summary above; every one of them in skipped.tsv
        print(f"{len(corpus.problems)} files not used, each with its cause in "
              f"{common.workdir().skipped_file(corpus.name)}")


if __name__ == "__main__":
    common.run(main)
