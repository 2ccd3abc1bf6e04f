"""Genre (class) of audio files: `python -m launch.predict --checkpoint=RUN_DIR [--checkpoint=RUN_DIR2] FILE...`.

Restores the best checkpoint of a training run (`workspace/runs/<corpus>/<split>/<net>/fold<k>`); with two
runs of different nets (net_STFT and net_MUSIC) their clip probabilities are fused (FUSION2 by default,
--fusion=fusion1); the same run twice, or two runs of one net, are refused.
Any format `mgc_jax.data.audio` decodes (WAV, FLAC, MP3, M4A/AAC/ALAC, Ogg, Opus, WMA...), any sample rate,
any channel count. Every 128-frame window (hop 64) of the
whole file is a clip unless --max_clips says otherwise. Prints per file the genre, the top-3 mean clip
probabilities, the clip votes and the file's content warnings ("warning: silent: ...", antiphase stereo,
band-limited, float beyond +-1); --json prints one JSON document instead (a "warnings" list per file). A file that cannot be used
(unreadable, not audio, shorter than one 3 s clip) gets its own error line and the other files are still
classified; the exit status is then 1. The class names are the run's own (its corpus's classes, recorded in
config.json; GTZAN's ten genres for runs that recorded none).

    python -m launch.predict --checkpoint=workspace/runs/synthetic/stratified/music/fold0 song.wav
    python -m launch.predict --checkpoint=.../stft/fold0 --checkpoint=.../music/fold0 --json a.mp3 b.flac
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from launch import common
from launch.shared_flags import CHECKPOINT, JSON

FUSION = flags.DEFINE_enum("fusion", "fusion2", ["fusion2", "fusion1"], "Late-fusion rule with two checkpoints.")
MAX_CLIPS = flags.DEFINE_integer("max_clips", None, "Clips per file at most (default: the whole file).")


def _text(path: str, p) -> str:
    top = ", ".join(f"{g} {q:.3f}" for g, q in p.top)
    votes = ", ".join(f"{g} {n}" for g, n in p.votes.items())
    return (f"{path}: {p.genre}\n"
            f"  top-3: {top}\n"
            f"  clip votes ({p.n_clips} clips of 3 s, {p.duration_s:.1f} s of audio, {p.rule}): {votes}"
            + "".join(f"\n  warning: {w}" for w in p.warnings))


def main(argv):
    files = argv[1:]
    if not CHECKPOINT.value:
        raise app.UsageError("--checkpoint=RUN_DIR is required (twice to fuse two nets)")
    if len(CHECKPOINT.value) > 2:
        raise app.UsageError(f"--checkpoint given {len(CHECKPOINT.value)} times: one net, or two to fuse")
    if len(CHECKPOINT.value) == 2 and os.path.realpath(CHECKPOINT.value[0]) == os.path.realpath(CHECKPOINT.value[1]):
        raise app.UsageError(f"--checkpoint={CHECKPOINT.value[0]} given twice: fusion needs two runs of different "
                             "nets (e.g. stft and music)")
    if not files:
        raise app.UsageError("no audio file given")
    if MAX_CLIPS.value is not None and MAX_CLIPS.value < 1:
        raise app.UsageError(f"--max_clips={MAX_CLIPS.value}: must be >= 1")
    from mgc_jax.errors import AudioError
    from mgc_jax.serve.inference import Classifier

    clf = Classifier.from_checkpoint(*CHECKPOINT.value, fusion=FUSION.value, max_clips=MAX_CLIPS.value)
    results, failed = [], 0
    for path in files:
        try:
            p = clf.predict(path)
        except AudioError as e:
            failed += 1
            results.append({"file": path, "error": e.cause})
            if not JSON.value:
                print(f"{path}: error: {e.cause}", flush=True)
            continue
        results.append({"file": path, **p.to_dict()})
        if not JSON.value:
            print(_text(path, p), flush=True)
    if JSON.value:
        # "classes": the run's own class names (the corpus's); "genres" is the same list under its old key.
        print(json.dumps({"checkpoints": CHECKPOINT.value, "nets": list(clf.nets), "classes": list(clf.genres),
                          "genres": list(clf.genres), "files": results}, indent=1))
    if failed:
        print(f"error: {failed} of {len(files)} files could not be classified", file=sys.stderr)
        sys.exit(common.EXIT_INPUT_ERROR)


if __name__ == "__main__":
    common.run(main)
