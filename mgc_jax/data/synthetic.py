"""The built-in corpus: ten synthetic genres, written as GTZAN-layout 16-bit WAVs, that differ along the paper's
three feature dimensions (dynamics, timbre, tonality) and overlap on every single feature.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import pathlib

import numpy as np
import soundfile as sf

from mgc_jax.data.gtzan import GENRES, label
from mgc_jax.data.synth_primitives import (  # noqa: F401  (SAMPLE_RATE: public here too)
    SAMPLE_RATE,
    _compress,
    _envelope,
    _hz,
    _osc,
    _pink_noise,
    _rms,
    _slow_curve,
    _table,
    _unit_rms,
)
from mgc_jax.workdir import atomic_write, write_json

CORPUS_NAME = "synthetic"
SUBTYPE = "PCM_16"
MANIFEST = "corpus.json"
VERSION = 1  # bump when the synthesis changes, so an old corpus is not mistaken for a new one

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclasses.dataclass(frozen=True)
class Style:
    """A genre: mean values of the synthesis parameters (each track varies them, see `_draw`)."""

    tempo: float  # beats per minute
    swing: float = 0.0  # 0 straight, 1 triplet feel for the off-beat eighths
    harmony: str = "triad"  # triad | seventh | dominant | extended | power | cluster | none
    progressions: tuple[tuple[int, ...], ...] = ((0, 3, 4, 0),)  # scale degrees, 0 = tonic
    minor: float = 0.0  # probability of a minor key
    beats_per_chord: int = 4  # harmonic rhythm
    strum: str = "chord"  # when the chord sounds: chord (at changes) | beat | offbeat | eighths
    pad_db: float = 0.0  # chord instrument level (relative dB)
    harmonics: int = 8  # partials of the chord instrument
    tilt: float = 1.0  # partial h has amplitude h^-tilt
    attack_s: float = 0.01
    decay_s: float = 0.0  # exponential decay time after each attack; 0 = sustained
    detune_cents: float = 0.0  # detuned doubling of every chord note (beating partials)
    register: int = 55  # MIDI note around which chords are voiced
    drive_db: float = -40.0  # tanh distortion pre-gain; <= -20 is clean
    bass: str = "root"  # root | beat | octaves | walking | offbeat | none
    bass_db: float = -4.0
    melody_db: float | None = None  # lead voice level; None = no lead
    kick: str = ""  # 16 steps per bar, 'x' = hit
    snare: str = ""
    hat: str = ""  # 'x' closed, 'o' open
    drums_db: float = -4.0
    hat_db: float = -10.0
    noise_db: float = -40.0  # broadband noise floor
    swell_db: float = 0.0  # depth of slow level swells
    compression: float = 0.0  # 0 none .. 0.8 heavy (exponent of the level-envelope correction)


STYLES: dict[str, Style] = {
    "blues": Style(
        tempo=88, swing=1.0, harmony="dominant", progressions=((0, 0, 0, 0, 3, 3, 0, 0, 4, 3, 0, 4),),
        beats_per_chord=4, strum="beat", harmonics=12, tilt=1.0, decay_s=0.5, detune_cents=8, register=52,
        drive_db=2.0, bass="walking", bass_db=-6, melody_db=-5, kick="x.......x.......",
        snare="....x.......x...", hat="x.x.x.x.x.x.x.x.", drums_db=-8, hat_db=-16, noise_db=-30),
    "classical": Style(
        tempo=80, harmony="triad", progressions=((0, 3, 4, 0), (0, 5, 1, 4), (0, 4, 5, 3)), minor=0.4,
        beats_per_chord=2, strum="chord", harmonics=10, tilt=1.7, attack_s=0.25, register=55,
        bass="root", bass_db=-8, melody_db=-4, drums_db=-99, hat_db=-99, noise_db=-58, swell_db=14),
    "country": Style(
        tempo=115, harmony="triad", progressions=((0, 3, 4, 0), (0, 0, 3, 4)), minor=0.05,
        beats_per_chord=4, strum="beat", harmonics=16, tilt=0.6, decay_s=0.35, register=60,
        bass="offbeat", bass_db=-6, melody_db=-6, kick="x.......x.......", snare="....x.......x...",
        hat="x...x...x...x...", drums_db=-10, hat_db=-20, noise_db=-42),
    "disco": Style(
        tempo=122, harmony="seventh", progressions=((0, 3), (0, 6)), minor=0.7, beats_per_chord=8,
        strum="chord", harmonics=8, tilt=1.1, attack_s=0.05, register=60, bass="octaves", bass_db=-3,
        kick="x...x...x...x...", snare="....x.......x...", hat="..o...o...o...o.", drums_db=-2, hat_db=-6,
        noise_db=-40, compression=0.5),
    "hiphop": Style(
        tempo=90, swing=0.5, harmony="seventh", progressions=((0,), (0, 5)), minor=0.6, beats_per_chord=8,
        strum="chord", pad_db=-14, harmonics=6, tilt=1.4, attack_s=0.05, register=55, bass="root",
        bass_db=2, kick="x.....x...x.....", snare="....x.......x...", hat="x.x.x.x.x.x.x.x.",
        drums_db=0, hat_db=-14, noise_db=-26, compression=0.6),
    "jazz": Style(
        tempo=140, swing=1.0, harmony="extended", progressions=((1, 4, 0, 0), (1, 4, 0, 5), (2, 5, 1, 4)),
        minor=0.2, beats_per_chord=2, strum="beat", harmonics=8, tilt=1.3, decay_s=0.7, register=56,
        bass="walking", bass_db=-4, melody_db=-3, kick="", snare="......x.......x.", hat="x..xx..xx..xx..x",
        drums_db=-14, hat_db=-8, noise_db=-36),
    "metal": Style(
        tempo=165, harmony="power", progressions=((0, 1, 0, 6), (0, 0, 5, 6)), minor=0.95,
        beats_per_chord=2, strum="eighths", harmonics=10, tilt=0.8, decay_s=0.25, detune_cents=18,
        register=43, drive_db=26, bass="beat", bass_db=-8, kick="xxxxxxxxxxxxxxxx", snare="....x.......x...",
        hat="x.x.x.x.x.x.x.x.", drums_db=-4, hat_db=-10, noise_db=-34, compression=0.7),
    "pop": Style(
        tempo=112, harmony="triad", progressions=((0, 4, 5, 3), (5, 3, 0, 4)), minor=0.2,
        beats_per_chord=4, strum="chord", harmonics=10, tilt=0.9, attack_s=0.03, register=58, bass="beat",
        bass_db=-4, melody_db=0, kick="x.......x.x.....", snare="....x.......x...", hat="x.x.x.x.x.x.x.x.",
        drums_db=-5, hat_db=-14, noise_db=-45, compression=0.6),
    "reggae": Style(
        tempo=75, swing=0.3, harmony="triad", progressions=((0, 3), (0, 4), (5, 3)), minor=0.4,
        beats_per_chord=8, strum="offbeat", harmonics=10, tilt=1.3, decay_s=0.12, register=60,
        bass="root", bass_db=0, kick="........x.......", snare="........x.......", hat="x.x.x.x.x.x.x.x.",
        drums_db=-6, hat_db=-16, noise_db=-36),
    "rock": Style(
        tempo=128, harmony="triad", progressions=((0, 6, 3, 0), (0, 3, 4, 3)), minor=0.3,
        beats_per_chord=4, strum="eighths", harmonics=10, tilt=0.9, decay_s=0.4, detune_cents=6, register=48,
        drive_db=12, bass="beat", bass_db=-5, kick="x.....x.x.......", snare="....x.......x...",
        hat="x.x.x.x.x.x.x.x.", drums_db=-3, hat_db=-12, noise_db=-38, compression=0.5),
}


def make_corpus(out_dir: str | os.PathLike, tracks_per_genre: int, seconds: float = 30.0,
                seed: int = 0) -> pathlib.Path:
    """Write the synthetic corpus: `<out_dir>/genres/<g>/<g>.NNNNN.wav` for every genre in GENRES.

    Args:
      out_dir: corpus folder (created; existing tracks are overwritten).
      tracks_per_genre: tracks per genre (>= 1).
      seconds: track duration (>= 1 s); every track has exactly round(seconds * 22050) samples.
      seed: corpus seed; track (g, i) depends only on (seed, g, i).

    Returns:
      `out_dir` as a Path. The manifest `corpus.json` (version, size, seed) is written last.
    """
    if not (isinstance(tracks_per_genre, int) and tracks_per_genre >= 1):
        raise ValueError(f"tracks_per_genre={tracks_per_genre!r}: need an int >= 1")
    if not seconds >= 1.0:
        raise ValueError(f"seconds={seconds!r}: need >= 1 s")

    out = pathlib.Path(out_dir)
    n = int(round(seconds * SAMPLE_RATE))
    for genre in GENRES:
        folder = out / "genres" / genre
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(tracks_per_genre):
            x = render_track(genre, i, n_samples=n, seed=seed)
            # Encoded in memory, then written: soundfile writing into the file meets a full disk inside its cffi
            # callbacks, which print "Exception ignored" tracebacks before the error (1.3 MB per 30 s track).
            wav = io.BytesIO()
            sf.write(wav, x, SAMPLE_RATE, subtype=SUBTYPE, format="WAV")
            with atomic_write(folder / f"{genre}.{i:05d}.wav") as f:
                f.write(wav.getbuffer())
    write_json(out / MANIFEST, manifest(tracks_per_genre, seconds, seed))
    return out


def manifest(tracks_per_genre: int, seconds: float, seed: int) -> dict:
    """What identifies a synthetic corpus (written to and compared with `corpus.json`)."""
    return {"name": CORPUS_NAME, "version": VERSION, "tracks_per_genre": tracks_per_genre,
            "seconds": float(seconds), "seed": seed, "sample_rate": SAMPLE_RATE, "genres": list(GENRES)}


def render_track(genre: str, index: int, *, n_samples: int, seed: int = 0) -> np.ndarray:
    """One synthetic track: float32 [n_samples] in [-1, 1], a pure function of (genre, index, seed)."""
    rng = np.random.default_rng([seed, label(genre), index])
    p = _draw(STYLES[genre], rng)
    return _render(p, rng, n_samples)


# ------------------------------------------------------------------------------------------ drawing


def _draw(s: Style, rng: np.random.Generator) -> dict:
    """Per-track parameters: the style's means with the track's own key, tempo, gain and timbre."""
    jitter = lambda db, sd=2.0: db + rng.normal(0.0, sd)  # noqa: E731 (level spread between tracks)
    return dict(
        style=s,
        tempo=s.tempo * rng.uniform(0.85, 1.15),
        key=int(rng.integers(12)),
        minor=bool(rng.random() < s.minor),
        progression=s.progressions[int(rng.integers(len(s.progressions)))],
        harmonics=max(2, s.harmonics + int(rng.integers(-2, 3))),
        tilt=max(0.3, s.tilt + rng.normal(0.0, 0.15)),
        decay_s=s.decay_s * rng.uniform(0.7, 1.4),
        detune_cents=s.detune_cents * rng.uniform(0.6, 1.4),
        register=s.register + int(rng.integers(-3, 4)),
        drive_db=s.drive_db + rng.normal(0.0, 3.0),
        pad_db=jitter(s.pad_db), bass_db=jitter(s.bass_db),
        melody_db=None if s.melody_db is None else jitter(s.melody_db),
        drums_db=jitter(s.drums_db), hat_db=jitter(s.hat_db),
        noise_db=s.noise_db + rng.uniform(-5.0, 5.0),
        swell_db=s.swell_db * rng.uniform(0.6, 1.3),
        compression=float(np.clip(s.compression + rng.normal(0.0, 0.1), 0.0, 0.9)),
        gain_db=rng.uniform(-10.0, 10.0),
    )


# ---------------------------------------------------------------------------------------- rendering


def _render(p: dict, rng: np.random.Generator, n: int) -> np.ndarray:
    s: Style = p["style"]
    sr = SAMPLE_RATE
    beat = 60.0 / p["tempo"]  # seconds
    n_beats = int(np.ceil(n / sr / beat)) + 1
    scale = _MINOR if p["minor"] else _MAJOR
    chords = _chords(s.harmony, p["progression"], scale, p["key"], p["register"], n_beats, s.beats_per_chord, rng)
    chord_start = np.arange(len(chords)) * s.beats_per_chord * beat  # seconds
    t = np.arange(n) / sr
    chord_of = np.minimum((t / (s.beats_per_chord * beat)).astype(np.int64), len(chords) - 1)

    parts = []  # (signal normalised to unit RMS, level dB)
    if s.harmony != "none" and chords:
        parts.append((_pad(p, chords, chord_of, chord_start, beat, t, n_beats), p["pad_db"]))
    if s.bass != "none":
        parts.append((_bass(p, chords, chord_of, chord_start, beat, t, n_beats, scale, rng), p["bass_db"]))
    if p["melody_db"] is not None:
        parts.append((_melody(p, scale, beat, t, n_beats, rng), p["melody_db"]))
    drums, hats = _drums(s, beat, n, rng)
    if drums is not None:
        parts.append((drums, p["drums_db"]))
    if hats is not None:
        parts.append((hats, p["hat_db"]))
    x = np.zeros(n)
    for sig, db in parts:
        x += _unit_rms(sig) * 10 ** (db / 20)
    x += _unit_rms(_pink_noise(n, rng)) * 10 ** (p["noise_db"] / 20) * _rms(x)
    if p["swell_db"] > 0:
        x *= 10 ** (p["swell_db"] / 20 * _slow_curve(t, rng))
    if p["compression"] > 0:
        x = _compress(x, p["compression"])
    x = _unit_rms(x) * 10 ** ((-26.0 + p["gain_db"]) / 20)  # -36..-16 dBFS RMS
    peak = np.abs(x).max()
    if peak > 0.98:  # keep 16-bit PCM unclipped: loud, spiky tracks lose a little of their gain
        x *= 0.98 / peak
    return x.astype(np.float32)


def _chords(harmony, progression, scale, key, register, n_beats, beats_per_chord, rng) -> list[np.ndarray]:
    """MIDI notes of each chord (float arrays of 2-5 notes), one chord per `beats_per_chord` beats."""
    n_chords = int(np.ceil(n_beats / beats_per_chord))
    if harmony == "none":
        return []
    chords = []
    for j in range(n_chords):
        degree = progression[j % len(progression)]
        if harmony == "cluster":  # atonal: a random semitone cluster each change
            base = register + int(rng.integers(12))
            notes = base + np.cumsum([0, *rng.integers(1, 3, size=3)])
        else:
            def step(k):
                return scale[(degree + k) % 7] + 12 * ((degree + k) // 7)

            root = step(0)
            if harmony == "power":
                rel = [0, 7, 12]
            elif harmony == "dominant":  # blues: every chord a dominant seventh on its root
                rel = [0, 4, 7, 10]
            else:
                ks = {"triad": (0, 2, 4), "seventh": (0, 2, 4, 6), "extended": (0, 2, 4, 6, 8)}[harmony]
                rel = [step(k) - root for k in ks]
            pitch = (key + root) % 12
            bottom = register - 6 + (pitch - (register - 6)) % 12  # root voiced in [register - 6, register + 6)
            notes = bottom + np.asarray(rel)
        chords.append(np.asarray(notes, np.float64))
    return chords


def _pad(p, chords, chord_of, chord_start, beat, t, n_beats) -> np.ndarray:
    s: Style = p["style"]
    width = max(len(c) for c in chords)
    freqs = np.zeros((width, len(chords)))
    amps = np.zeros((width, len(chords)))
    for j, c in enumerate(chords):
        freqs[: len(c), j] = _hz(c)
        amps[: len(c), j] = 1.0
    f_max = freqs.max() * 2 ** (p["detune_cents"] / 1200)
    table = _table(min(p["harmonics"], max(1, int(10000 / f_max))), p["tilt"])
    if s.strum == "chord":
        onsets = chord_start
    elif s.strum == "beat":
        onsets = np.arange(n_beats) * beat
    elif s.strum == "offbeat":
        onsets = (np.arange(n_beats) + 0.5 + s.swing / 6) * beat
    else:  # eighths
        onsets = np.arange(2 * n_beats) * beat / 2
    env = _envelope(t, onsets, s.attack_s, p["decay_s"])
    f = freqs[:, chord_of]  # [voices, n]
    a = amps[:, chord_of]
    y = (a * _osc(table, f)).sum(0)
    if p["detune_cents"] > 0:  # doubled, detuned: beating partials and more peaks for roughness
        y += (a * _osc(table, f * 2 ** (p["detune_cents"] / 1200), phase=0.37)).sum(0)
    y *= env
    if p["drive_db"] > -20:
        y = np.tanh(_unit_rms(y) * 0.3 * 10 ** (p["drive_db"] / 20))
    return y


def _bass(p, chords, chord_of, chord_start, beat, t, n_beats, scale, rng) -> np.ndarray:
    s: Style = p["style"]
    if chords:
        roots = np.array([c[0] for c in chords])
        roots = roots - 12 * np.ceil((roots - (p["register"] - 18)) / 12)  # one to two octaves below the chords
    else:  # no harmony: the tonic, two octaves below the register
        roots = np.array([float(p["register"] - 24 + (p["key"] - p["register"]) % 12)])
    beat_idx = np.minimum((t / beat).astype(np.int64), n_beats - 1)
    notes = roots[np.minimum(chord_of, len(roots) - 1)]
    if s.bass == "root":
        onsets, decay = chord_start, 1.2
    elif s.bass == "beat":
        onsets, decay = np.arange(n_beats) * beat, 0.35
    elif s.bass == "offbeat":  # root on 1, fifth on 3 (country two-beat)
        onsets, decay = np.arange(n_beats) * beat, 0.4
        notes = notes + np.where(beat_idx % 2 == 1, 7, 0)
    elif s.bass == "octaves":
        onsets, decay = np.arange(2 * n_beats) * beat / 2, 0.18
        notes = notes + 12 * ((2 * t / beat).astype(np.int64) % 2)
    else:  # walking: a scale step per beat around the chord root
        onsets, decay = np.arange(n_beats) * beat, 0.5
        steps = np.array([scale[k % 7] + 12 * (k // 7) for k in rng.integers(0, 5, size=n_beats)], np.float64)
        notes = notes + steps[beat_idx] * (beat_idx % 4 != 0)
    table = _table(3, 2.0)  # round, mostly fundamental
    return _osc(table, _hz(notes)) * _envelope(t, onsets, 0.005, decay)


def _melody(p, scale, beat, t, n_beats, rng) -> np.ndarray:
    """A lead voice: a random walk on the scale, one note per beat, with 5.5 Hz vibrato."""
    walk = np.clip(np.cumsum(rng.integers(-2, 3, size=n_beats)), -4, 9)
    pcs = np.array([scale[k % 7] + 12 * (k // 7) for k in walk], np.float64)
    notes = p["register"] + 12 + ((p["key"] - p["register"]) % 12) + pcs
    beat_idx = np.minimum((t / beat).astype(np.int64), n_beats - 1)
    f = _hz(notes[beat_idx]) * 2 ** (25 / 1200 * np.sin(2 * np.pi * 5.5 * t))
    rest = rng.random(n_beats) < 0.25  # phrasing: a quarter of the beats are silent
    env = _envelope(t, np.arange(n_beats) * beat, 0.04, 0.0) * ~rest[beat_idx]
    return _osc(_table(6, 1.2), f) * env


def _drums(s: Style, beat: float, n: int, rng) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Kick + snare, and hi-hats (returned apart so their level sets the energy above 1.5 kHz)."""
    sr = SAMPLE_RATE
    step_s = beat / 4
    n_bars = int(np.ceil(n / sr / (4 * beat))) + 1

    def hits(pattern: str, char: str = "x") -> tuple[np.ndarray, np.ndarray]:
        """Sample positions and velocities of the pattern's hits over the track."""
        k = np.array([i for i, c in enumerate(pattern) if c == char], np.int64)
        steps = (np.arange(n_bars)[:, None] * 16 + k[None, :]).ravel()
        off = np.where(steps % 4 == 2, s.swing / 6 * beat, 0.0)  # swung off-beat eighths
        pos = np.round((steps * step_s + off) * sr).astype(np.int64)
        pos = pos[pos < n]
        return pos, rng.uniform(0.75, 1.0, size=pos.size)

    kit = _drum_kit()
    drums = _place(n, [(*hits(s.kick), kit["kick"]), (*hits(s.snare), kit["snare"])])
    hats = _place(n, [(*hits(s.hat, "x"), kit["closed"]), (*hits(s.hat, "o"), kit["open"])])
    return drums, hats


@functools.lru_cache(maxsize=1)
def _drum_kit() -> dict[str, np.ndarray]:
    """One fixed drum machine (its own constant seed): kick, snare, closed and open hi-hat, 0.3 s each."""
    rng = np.random.default_rng(20170619)
    sr = SAMPLE_RATE
    tt = np.arange(int(0.3 * sr)) / sr
    hiss = np.diff(rng.standard_normal(tt.size + 1))  # first difference: a high-passed hiss
    kit = {
        "kick": np.sin(2 * np.pi * np.cumsum(45 + 70 * np.exp(-tt / 0.03)) / sr) * np.exp(-tt / 0.09),
        "snare": 0.8 * (rng.standard_normal(tt.size) * np.exp(-tt / 0.05)
                        + 0.5 * np.sin(2 * np.pi * 190 * tt) * np.exp(-tt / 0.04)),
        "closed": hiss * np.exp(-tt / 0.015),
        "open": hiss * np.exp(-tt / 0.09),
    }
    for v in kit.values():
        v.setflags(write=False)
    return kit


def _place(n: int, hits: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray | None:
    """Overlap-add of sounds at hit positions: [(positions, velocities, sound)] -> float64 [n], None if no hit.

    A Python loop over hits (a few hundred per track), not over samples: each hit is one slice add.
    """
    if not any(pos.size for pos, _, _ in hits):
        return None
    out = np.zeros(n)
    for positions, velocities, sound in hits:
        for p, v in zip(positions.tolist(), velocities.tolist()):
            m = min(sound.size, n - p)
            out[p:p + m] += v * sound[:m]
    return out


def read_manifest(out_dir: str | os.PathLike) -> dict | None:
    """The manifest of a complete synthetic corpus, or None if there is none (absent or unfinished)."""
    path = pathlib.Path(out_dir) / MANIFEST
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f)
