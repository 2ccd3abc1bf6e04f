"""End-to-end extraction speed on real files: decoding, resampling, maps and `launch.extract`, with peak RSS.

In one run, on the MP3s of ../shared/emotify_dev (or --data_dir: a labelled folder, <class>/<file>) and on the
same files converted to 16-bit FLAC in a temporary folder (conversion not timed). Every row runs in its own
child process, one file after another unless it says otherwise, so its peak RSS (`wait4`'s ru_maxrss) and CPU
time are its own:

- ref: the plain loop the goal is measured against: soundfile float32 decode, channel mean, soxr HQ to 22,050 Hz;
- decode <decoder>: each decoder the project uses (`mgc_jax.data.decoders`: libsndfile, FFmpeg), every block
  of every file, nothing else;
- decode+resample <decoder>: the project's decode path (`mgc_jax.data.audio`: one pass, mono, streaming soxr at
  `audio.RESAMPLE_QUALITY`) through that decoder; the decoder marked * is the one `audio.decode` picks;
- maps: `extraction.batch_maps` (jitted maps, batches of --batch_size tracks of one crop length, padded as
  the extraction pads) over audio decoded before the clock starts; first pass (compilation included), then a
  second pass;
- extract: `python -m launch.extract --data_dir=D --workdir=<fresh temp dir> --noprogress`, the whole command
  (start-up, discovery, compilation, decoding threads, maps, writes), twice: first with an empty `--xla_cache`
  (a machine's first run compiles the maps), then on another fresh workdir with that cache (every later run);
  --serial adds `--decode_threads=0`;
- ref, again: the ref row once more at the end; the extract rows' ratio is to the mean of the two ref rows.

Columns: x real time = seconds of audio / wall seconds; x per CPU-second = seconds of audio / CPU seconds (user +
system, all threads); both of the timed part of a row (imports and set-up excluded), and of the whole command for
the extract rows; peak RSS of the whole child process. The extract rows also give their wall time over ref's:
issue 29 asks for at most 1.5. The load average is recorded before and after: on a shared machine the wall figures
are noisy (CPU figures less so); compare rows of one run only.

    python benchmarks/extract_e2e.py [--data_dir DIR] [--files N] [--copies K] [--formats mp3,flac] [--serial]
                                     [--out FILE]

Writes benchmarks/results/extract_e2e.json (git-ignored) unless --out says otherwise.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("MGC_SHARED", REPO.parent / "shared"))
SR = 22050


# --- rows, each run in a child process (`--_row KIND --_arg ARG`) ----------------------------------------------


def _sources():
    """decoder name -> path -> an opened `decoders.Source` (the project's two decoders)."""
    import soundfile as sf

    from mgc_jax.data import decoders

    return {"libsndfile": lambda p: decoders._SndfileSource(p, sf.SoundFile(p)),
            "ffmpeg": lambda p: decoders._FFmpegSource(p, None)}


class _Clock:
    """Wall and CPU seconds (this process, all threads) of the timed part of a row."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def row(self, **extra) -> dict:
        return {"wall_s": self.wall, "cpu_s": self.cpu, **extra}


def _row(kind: str, arg: str, files: list[pathlib.Path], batch_size: int) -> dict:
    """Run one row here: {"wall_s", "cpu_s"} of its timed part (imports and set-up excluded), plus extras."""
    if kind == "ref":
        import soundfile as sf
        import soxr

        with _Clock() as clock:
            for p in files:
                x, rate = sf.read(p, dtype="float32", always_2d=True)
                soxr.resample(x.mean(axis=1), rate, SR, quality="HQ")
        return clock.row()
    sys.path.insert(0, str(REPO))
    from mgc_jax.data import audio

    if kind == "decode":
        open_source = _sources()[arg]
        with _Clock() as clock:
            for p in files:
                src = open_source(p)
                try:
                    for _ in src.blocks():
                        pass
                finally:
                    src.close()
        return clock.row()
    if kind == "decode+resample":
        open_source = _sources()[arg]
        with _Clock() as clock:
            for p in files:
                src = open_source(p)
                try:
                    audio._decode(src, p, SR)
                finally:
                    src.close()
        return clock.row()
    if kind == "maps":
        import collections

        import numpy as np

        import dsp
        from mgc_jax import sharding
        from mgc_jax.data import extraction
        from mgc_jax.data.maps import crop_length

        cfg = dsp.FeatureConfig()
        buckets = collections.defaultdict(list)
        for p in files:
            x = audio.load(p, SR)
            kept = crop_length(x.size, cfg)
            buckets[kept].append(x[:kept])
        mesh = sharding.local_mesh()
        size = sharding.padded_size(batch_size, mesh)
        clocks = []
        for _ in range(2):  # the first pass compiles one program per (rows, length)
            with _Clock() as clock:
                for xs in buckets.values():
                    # padded as the extraction pads: to the full batch once one was compiled for this length
                    rows = size if len(xs) >= size else sharding.padded_size(len(xs), mesh)
                    for i in range(0, len(xs), size):
                        batch = sharding.pad_rows(np.stack(xs[i:i + size]), rows, fill="edge")
                        extraction.batch_maps(batch, cfg)
            clocks.append(clock)
        return clocks[0].row(wall_s_second_pass=clocks[1].wall, lengths=len(buckets))
    raise ValueError(f"unknown row {kind!r}")


def _child(cmd: list[str], env=None) -> tuple[str, float, float, int]:
    """(stdout, wall s, CPU s, peak RSS bytes) of a child process; its stderr is shown when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} ... exited {proc.returncode}:\n"
                               f"{err.read().decode(errors='replace')[-3000:]}")
        return out.read().decode(), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def _measure(kind: str, arg: str, files: list[pathlib.Path], batch_size: int, audio_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        listing = pathlib.Path(tmp) / "files.txt"
        listing.write_text("\n".join(map(str, files)))
        out, wall, cpu, rss = _child([sys.executable, __file__, "--_row", kind, "--_arg", arg, "--_files",
                                      str(listing), "--batch_size", str(batch_size)])
    row = json.loads(out.strip().splitlines()[-1])
    row.update(process_wall_s=wall, process_cpu_s=cpu, peak_rss_bytes=rss)
    return _rates(row, audio_s)


def _extract(root: pathlib.Path, batch_size: int, audio_s: float, extra: list[str]) -> dict:
    """One `launch.extract` on a fresh workdir; `extra` names its --xla_cache (cold: empty, warm: filled)."""
    with tempfile.TemporaryDirectory(prefix="extract_e2e_") as workdir:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        out, wall, cpu, rss = _child([sys.executable, "-m", "launch.extract", f"--data_dir={root}",
                                      f"--workdir={workdir}", "--noprogress", f"--batch_size={batch_size}",
                                      *extra], env=env)
    line = next((s.strip() for s in out.splitlines() if "tracks extracted now" in s), "")
    return _rates({"wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": rss, "printed": line}, audio_s)


def _rates(row: dict, audio_s: float) -> dict:
    row["x_real_time"] = audio_s / row["wall_s"]
    row["x_per_cpu_s"] = audio_s / row["cpu_s"] if row.get("cpu_s") else None
    if "wall_s_second_pass" in row:
        row["x_real_time_second_pass"] = audio_s / row["wall_s_second_pass"]
    return row


# --- the run ----------------------------------------------------------------------------------------------------


def _durations(files: list[pathlib.Path]) -> float:
    import soundfile as sf

    sys.path.insert(0, str(REPO))
    from mgc_jax.data import audio

    return sum(audio.decode(p, SR).samples.size for p in files) / SR if hasattr(audio, "decode") else sum(
        sf.info(p).duration for p in files)


def _to_flac(files: list[pathlib.Path], root: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
    """The same files as 16-bit FLAC at their own rate and channel count, in the same <class>/<name> layout."""
    import soundfile as sf

    made = []
    for p in files:
        x, rate = sf.read(p, dtype="float32", always_2d=True)
        q = out / p.relative_to(root).with_suffix(".flac")
        q.parent.mkdir(parents=True, exist_ok=True)
        sf.write(q, x, rate, subtype="PCM_16")
        made.append(q)
    return made


def _corpus(root: pathlib.Path, files: list[pathlib.Path], into: pathlib.Path, copies: int) -> list[pathlib.Path]:
    """A labelled folder holding exactly `files`, each `copies` times (<name>.copyK<ext> beyond the first), so
    launch.extract sees the --files subset and a collection --copies times as large; the copies made."""
    made = []
    for k in range(copies):
        for p in files:
            q = into / p.relative_to(root)
            q = q.with_name(f"{q.stem}.copy{k}{q.suffix}") if k else q
            q.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, q)
            made.append(q)
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data_dir", default=str(SHARED / "emotify_dev"), help="labelled folder of MP3s")
    ap.add_argument("--files", type=int, default=None, help="use N files (the first of each class in turn)")
    ap.add_argument("--formats", default="mp3,flac", help="mp3 (the files as they are), flac (converted)")
    ap.add_argument("--copies", type=int, default=1,
                    help="extract each file this many times (as other names): --files 100 --copies 3 = 300 files")
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--serial", action="store_true", help="also launch.extract --decode_threads=0")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "extract_e2e.json"))
    ap.add_argument("--_row", help=argparse.SUPPRESS)
    ap.add_argument("--_arg", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_files", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._row:
        files = [pathlib.Path(s) for s in pathlib.Path(args._files).read_text().splitlines()]
        print(json.dumps(_row(args._row, args._arg, files, args.batch_size)))
        return

    sys.path.insert(0, str(REPO))
    from mgc_jax.data import audio

    root = pathlib.Path(args.data_dir)
    by_class = [sorted(p for p in c.glob("*") if p.suffix.lower() == ".mp3") for c in sorted(root.iterdir())
                if c.is_dir()]
    # --files N: the first files of each class in turn, so any N >= 2 keeps two classes
    mp3s = [p for row in itertools.zip_longest(*by_class) for p in row if p is not None][: args.files]
    if not mp3s:
        sys.exit(f"no <class>/*.mp3 files under {root}")
    decoders = list(_sources()) if hasattr(audio, "_decode") else []
    result = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} {os.cpu_count()} CPUs", "python": platform.python_version(),
              "load_before": os.getloadavg(), "files": len(mp3s), "data_dir": str(root), "formats": {}}
    print(f"{len(mp3s)} files from {root}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="extract_e2e_") as tmp:
        tmp = pathlib.Path(tmp)
        sets = {}
        for fmt in args.formats.split(","):
            if fmt == "mp3":
                sets[fmt] = (tmp / "mp3", _corpus(root, mp3s, tmp / "mp3", args.copies))
            elif fmt == "flac":
                flacs = _to_flac(mp3s, root, tmp / "flac1")
                sets[fmt] = (tmp / "flac", _corpus(tmp / "flac1", flacs, tmp / "flac", args.copies))
            else:
                sys.exit(f"--formats: unknown format {fmt!r} (mp3, flac)")
        for fmt, (folder, files) in sets.items():
            audio_s = _durations(files[:len(files) // args.copies]) * args.copies  # copies come after the originals
            picked = {p.decoder for p in [audio.decode(files[0], SR)]} if hasattr(audio, "decode") else set()
            rows = {"ref (soundfile + soxr HQ, plain loop)": _measure("ref", "", files, args.batch_size, audio_s)}
            for name in decoders:
                rows[f"decode {name}"] = _measure("decode", name, files, args.batch_size, audio_s)
            for name in decoders:
                star = "*" if name in picked else ""
                rows[f"decode+resample {name}{star}"] = _measure("decode+resample", name, files, args.batch_size,
                                                                 audio_s)
            rows["maps"] = _measure("maps", "", files, args.batch_size, audio_s)
            # The first extraction compiles the maps (an empty --xla_cache: a machine's first run); the second,
            # on another fresh workdir, finds them compiled (every later run, whatever its workdir).
            xla = tmp / f"xla_{fmt}"
            rows["launch.extract (first run: compiles)"] = _extract(folder, args.batch_size, audio_s,
                                                                    [f"--xla_cache={xla}"])
            rows["launch.extract (compiled before)"] = _extract(folder, args.batch_size, audio_s,
                                                                [f"--xla_cache={xla}"])
            if args.serial:
                rows["launch.extract --decode_threads=0 (compiled before)"] = _extract(
                    folder, args.batch_size, audio_s, ["--decode_threads=0", f"--xla_cache={xla}"])
            # ref again after the extractions: their ratio is to the mean of both, so a drift of the machine's
            # speed during the run shows up as the spread of the two ref rows instead of in the ratio.
            rows["ref, again"] = _measure("ref", "", files, args.batch_size, audio_s)
            ref = (rows["ref (soundfile + soxr HQ, plain loop)"]["wall_s"] + rows["ref, again"]["wall_s"]) / 2
            for name, row in rows.items():
                if name.startswith("launch.extract"):
                    row["over_ref"] = row["wall_s"] / ref
            result["formats"][fmt] = {"audio_s": audio_s, "rows": rows}
            _print(fmt, len(files), audio_s, rows)
    result["load_after"] = os.getloadavg()
    print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


def _print(fmt: str, n: int, audio_s: float, rows: dict) -> None:
    print(f"\n{fmt}: {n} files, {audio_s / 60:.1f} min of audio")
    print("| row | wall s | x real time | x per CPU-s | peak RSS MB | over ref |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        extra = f" (2nd pass {r['x_real_time_second_pass']:,.0f})" if "x_real_time_second_pass" in r else ""
        over = f"{r['over_ref']:.2f}" if "over_ref" in r else ""
        print(f"| {name} | {r['wall_s']:.1f} | {r['x_real_time']:,.0f}{extra} | {r['x_per_cpu_s']:,.0f} | "
              f"{r['peak_rss_bytes'] / 2**20:,.0f} | {over} |", flush=True)


if __name__ == "__main__":
    main()
