"""Genre (class) of audio files, folders and manifests: `python -m launch.predict --checkpoint=RUN_DIR PATH...`.

Restores the best checkpoint of a training run (`workspace/runs/<corpus>/<split>/<net>/fold<k>`); with two
runs of different nets (net_STFT and net_MUSIC) their clip probabilities are fused (FUSION2 by default,
--fusion=fusion1); the same run twice, or two runs of one net, are refused.
Any format `mgc_jax.data.audio` decodes (WAV, FLAC, MP3, M4A/AAC/ALAC, Ogg, Opus, WMA...), any sample rate,
any channel count, any length (long files are analysed block by block, in bounded memory: `mgc_jax.data.maps`). Every 128-frame window (hop 64) of the whole file is a clip
unless --max_clips says otherwise (then only the blocks those clips need are computed).
A PATH is an audio file, a folder (every audio file below it) or a manifest (PATH.csv with a `path` column).

Without --output: prints per file the genre, the top-3 mean clip probabilities, the clip votes and the file's
content warnings (silent, antiphase stereo, band-limited, float beyond +-1); --json prints
one JSON document instead. With --output=FILE.csv or FILE.jsonl (a library): one row per file is appended to
FILE as soon as it is done, a progress bar (ETA, files/s) runs on stderr, and a summary (files, hours, counts
per class, the bad files with their causes) ends the run; run the same command again after an interrupt and
it classifies only the files not yet in FILE (`mgc_jax.serve.library`).
A file that cannot be used (unreadable, not audio, shorter than one 3 s clip) gets its own error line (row)
and the other files are still classified; the exit status is then 1. The class names are the run's own (its
corpus's classes, recorded in config.json; GTZAN's ten genres for runs that recorded none).

    python -m launch.predict --checkpoint=workspace/runs/synthetic/stratified/music/fold0 song.wav
    python -m launch.predict --checkpoint=.../stft/fold0 --checkpoint=.../music/fold0 --json a.mp3 b.flac
    python -m launch.predict --checkpoint=.../music/fold0 --output=tags.csv ~/Music
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from launch import common
from launch.shared_flags import CHECKPOINT, JSON

FUSION = flags.DEFINE_enum("fusion", "fusion2", ["fusion2", "fusion1"], "Late-fusion rule with two checkpoints.")
MAX_CLIPS = flags.DEFINE_integer("max_clips", None, "Clips per file at most, evenly spread over the whole file "
                                "(default: every 3 s window, hop 1.5 s).")
OUTPUT = flags.DEFINE_string("output", None, "Tag a library: append one row per file to this .csv or .jsonl file "
                             "(resumed when it exists), with a progress bar and a summary.")


def _text(path: str, row: dict) -> str:
    top = ", ".join(f"{g} {q:.3f}" for g, q in row["top"])
    votes = ", ".join(f"{g} {n}" for g, n in row["votes"].items())
    return (f"{path}: {row['genre']}\n"
            f"  top-3: {top}\n"
            f"  clip votes ({row['n_clips']} clips of 3 s, {row['duration_s']:.1f} s of audio, {row['rule']}): {votes}"
            + "".join(f"\n  warning: {w}" for w in row.get("warnings", ())))


def main(argv):
    paths = argv[1:]
    if not CHECKPOINT.value:
        raise app.UsageError("--checkpoint=RUN_DIR is required (twice to fuse two nets)")
    if len(CHECKPOINT.value) > 2:
        raise app.UsageError(f"--checkpoint given {len(CHECKPOINT.value)} times: one net, or two to fuse")
    if len(CHECKPOINT.value) == 2 and os.path.realpath(CHECKPOINT.value[0]) == os.path.realpath(CHECKPOINT.value[1]):
        raise app.UsageError(f"--checkpoint={CHECKPOINT.value[0]} given twice: fusion needs two runs of different "
                             "nets (e.g. stft and music)")
    if len(CHECKPOINT.value) == 1 and flags.FLAGS["fusion"].present:
        raise app.UsageError(f"--fusion={FUSION.value} fuses two nets: give two --checkpoint runs (one net's clips "
                             "are majority-voted)")
    if not paths:
        raise app.UsageError("no audio file given (give audio files, folders or manifests)")
    if "-" in paths:
        raise app.UsageError("'-': standard input is not read; give audio files, folders or manifests (PATH.csv)")
    if MAX_CLIPS.value is not None and MAX_CLIPS.value < 1:
        raise app.UsageError(f"--max_clips={MAX_CLIPS.value}: must be >= 1")
    if OUTPUT.value is not None and JSON.value:
        raise app.UsageError("--json prints results; with --output they go to the file (name it .jsonl for JSON)")
    from mgc_jax.serve import library
    from mgc_jax.serve.inference import Classifier

    if OUTPUT.value is not None:
        library.ResultFile.check_name(OUTPUT.value)
    inputs = library.expand(paths)
    clf = Classifier.from_checkpoint(*CHECKPOINT.value, fusion=FUSION.value, max_clips=MAX_CLIPS.value)
    if OUTPUT.value is not None:
        summary = library.tag(clf, inputs, OUTPUT.value)
        print("\n".join(summary.lines(OUTPUT.value)), flush=True)
        if summary.bad:
            sys.exit(common.EXIT_INPUT_ERROR)
        return
    bad = dict(inputs.bad)
    results = []
    for path in inputs.order:  # the order the paths were given in, bad ones included
        row = {"file": path, "error": bad[path]} if path in bad else library.classify_one(clf, path)
        results.append(row)
        if not JSON.value:
            print(f"{path}: error: {row['error']}" if "error" in row else _text(path, row), flush=True)
    if JSON.value:
        # "classes": the run's own class names (the corpus's); "genres" is the same list under its old key.
        print(json.dumps({"checkpoints": CHECKPOINT.value, "nets": list(clf.nets), "classes": list(clf.genres),
                          "genres": list(clf.genres), "files": results}, indent=1, ensure_ascii=False))
    failed = sum("error" in r for r in results)
    if failed:
        print(f"error: {failed} of {len(results)} files could not be classified", file=sys.stderr)
        sys.exit(common.EXIT_INPUT_ERROR)


if __name__ == "__main__":
    common.run(main)
