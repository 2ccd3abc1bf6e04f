"""Decode speed and peak memory per audio format and decoder: libsndfile (soundfile), FFmpeg (PyAV), and the
project's own path (mgc_jax.data.audio.decode: the chosen decoder, mono mix, soxr to 22,050 Hz, checks).

    python benchmarks/decode_formats.py [--tracks 5] [--repeats 2] [--formats wav,flac,...]

Fixtures: `--tracks` one-minute MP3s of ../shared/emotify_dev (MGC_SHARED overrides the place), decoded and
joined into one stereo 44.1 kHz signal, then encoded by PyAV into each format in a temporary folder (deleted at
the end; nothing is written into the repository). Each (format, decoder) runs in a fresh Python process, which
decodes the file `--repeats` times: x real time = audio seconds / CPU seconds of the best round (CPU time: the
2-core dev box is shared, and wall time would measure the neighbours), and the peak RSS above what the process
held before decoding. "raw": the decoder alone, float32 [n, channels] at the file's rate; "mgc_jax": the
project's whole path (mgc_jax.data.audio.decode: mono, soxr to 22,050 Hz, checks, warnings) with that decoder
forced. The table prints as markdown (benchmarks/decode_formats.md).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

from mgc_jax.data import audio

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from encoded_audio import encode  # noqa: E402  (the tests' PyAV encoder: one home for writing fixtures)
SHARED = pathlib.Path(os.environ.get("MGC_SHARED", ROOT.parent / "shared"))  # as tests/conftest.py
# name -> (file suffix, PyAV container format, codec, rate)
FORMATS = {
    "wav": (".wav", "wav", "pcm_s16le", 44100),
    "flac": (".flac", "flac", "flac", 44100),
    "ogg vorbis": (".ogg", "ogg", "vorbis", 44100),
    "ogg opus": (".opus", "ogg", "libopus", 48000),
    "mp3": (".mp3", "mp3", "libmp3lame", 44100),
    "m4a aac": (".m4a", "mp4", "aac", 44100),
    "m4a alac": (".m4a", "mp4", "alac", 44100),
    "wma": (".wma", "asf", "wmav2", 44100),
    "mp4 opus": (".mp4", "mp4", "libopus", 48000),
}

CHILD = r"""
import json, sys, time
import numpy as np
path, decoder, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rss_mb():  # VmHWM, not ru_maxrss: Linux carries the parent's peak across exec into ru_maxrss
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
if decoder == "libsndfile":
    import soundfile as sf
    def run():
        return sf.read(path, dtype="float32", always_2d=True)[0].shape[0]
elif decoder == "ffmpeg":
    import av
    def run():
        with av.open(path) as c:
            fifo = av.AudioFifo()
            out = []
            n = 0
            for fr in c.decode(c.streams.audio[0]):
                n += fr.samples
                fr.pts = None
                fifo.write(fr)
                if fifo.samples >= 1 << 16:
                    out.append(fifo.read().to_ndarray())
            if fifo.samples:
                out.append(fifo.read().to_ndarray())
        return n
else:  # "mgc_jax <decoder>": the project's whole path, with the decoder forced
    from mgc_jax.data import audio, decoders
    import soundfile as sf
    decoders.FFMPEG_FORMATS = frozenset(sf.available_formats() if decoder.endswith("ffmpeg") else ())
    def run():
        d = audio.decode(path)
        if d.decoder != decoder.split()[1]:
            raise ValueError(f"decoded by {d.decoder}")
        return d.frames
try:
    import soundfile, av, soxr  # noqa: F401  (the libraries' own memory is not the decode's)
    before = rss_mb()
    best = None
    for _ in range(repeats):
        t = time.process_time()
        n = run()
        dt = time.process_time() - t
        best = dt if best is None else min(best, dt)
    print(json.dumps({"frames": n, "cpu_s": best, "peak_mb": rss_mb() - before}))
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"[:120]}))
"""


def _signal(n_tracks: int) -> np.ndarray:
    import av
    files = sorted(glob.glob(str(SHARED / "emotify_dev" / "*" / "*.mp3")))
    if not files:
        raise SystemExit(f"no MP3 under {SHARED / 'emotify_dev'} (set MGC_SHARED)")
    files = [files[i] for i in np.linspace(0, len(files) - 1, n_tracks).astype(int)]
    parts = []
    for f in files:
        with av.open(f) as c:
            parts.append(np.concatenate([fr.to_ndarray() for fr in c.decode(c.streams.audio[0])], axis=1))
    return np.concatenate(parts, axis=1)  # float32 [2, n] at 44.1 kHz


def _encode(path: pathlib.Path, x: np.ndarray, fmt: str, codec: str, rate: int) -> None:
    import soxr
    if rate != 44100:
        x = soxr.resample(x.T, 44100, rate).T.astype(np.float32)
    if codec == "vorbis":  # FFmpeg's own Vorbis encoder is experimental; libsndfile's is libvorbis
        import soundfile as sf
        with sf.SoundFile(path, "w", rate, 2, format="OGG", subtype="VORBIS") as f:
            for i in range(0, x.shape[1], 1 << 14):  # one big write crashes libsndfile 1.2's Vorbis encoder
                f.write(np.ascontiguousarray(x[:, i:i + (1 << 14)].T))
        return
    encode(path, x.T, rate, codec, fmt, bit_rate=128000 if codec == "wmav2" else None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracks", type=int, default=5, help="one-minute tracks joined into each fixture")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--formats", default=",".join(FORMATS))
    args = p.parse_args()
    x = _signal(args.tracks)
    seconds = x.shape[1] / 44100
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + sys.path))
    rows = []
    with tempfile.TemporaryDirectory(prefix="decode_formats_") as tmp:
        for name in args.formats.split(","):
            suffix, fmt, codec, rate = FORMATS[name]
            path = pathlib.Path(tmp) / (name.replace(" ", "_") + suffix)
            _encode(path, x, fmt, codec, rate)
            row = {"format": name, "MB": path.stat().st_size / 2 ** 20, "mgc_jax": audio.decode(path).decoder}
            for decoder in ("libsndfile", "ffmpeg", "mgc_jax libsndfile", "mgc_jax ffmpeg"):
                out = subprocess.run([sys.executable, "-c", CHILD, str(path), decoder, str(args.repeats)],
                                     capture_output=True, text=True, env=env)
                lines = out.stdout.strip().splitlines()
                row[decoder] = json.loads(lines[-1]) if lines else {"error": out.stderr.strip()[-120:]}
            rows.append(row)
    print(f"{args.tracks} one-minute emotify_dev tracks joined: {seconds:.0f} s stereo per file; x real time = audio s "
          f"/ CPU s (best of {args.repeats}); peak = RSS increase while decoding. raw: float32 [n, 2] at the file's "
          f"rate; mgc_jax: data.audio.decode (mono, soxr {audio_quality()} to 22,050 Hz, checks, warnings); "
          f"* = the decoder data/decoders.py picks")
    print("| format | file MB | decoder | raw xRT | raw peak MB | mgc_jax xRT | mgc_jax peak MB | frames raw / mgc_jax |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        for d in ("libsndfile", "ffmpeg"):
            raw, full = r[d], r["mgc_jax " + d]
            if "error" in raw:
                continue
            chosen = "*" if r["mgc_jax"] == d else ""
            cells = [r["format"], f"{r['MB']:.1f}", d + chosen, f"{seconds / raw['cpu_s']:.0f}", f"{raw['peak_mb']:.0f}"]
            cells += (["-", "-"] if "error" in full else [f"{seconds / full['cpu_s']:.0f}", f"{full['peak_mb']:.0f}"])
            cells.append(f"{raw['frames']} / {full.get('frames', full.get('error'))}")
            print("| " + " | ".join(cells) + " |")


def audio_quality() -> str:
    return audio.RESAMPLE_QUALITY


if __name__ == "__main__":
    main()
