"""A track of any corpus, and track ids derived from file paths: unique in the corpus, stable across machines,
and safe as file names (`SAFE_ID`).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import NamedTuple

SAFE_ID = re.compile(r"^[\w.+-]+$")
"""What a track id may hold: it names cache files (mgc_jax.data.cache refuses others)."""
SLUG_CHARS = 60  # readable part of a derived id; the hash keeps it unique
UNLABELLED = ""  # Track.genre of a file without a class (beside the class folders): extraction only
# A cache file's temporary name is ".<track_id>.music.npy.XXXXXXXX.tmp": 200 bytes of id keep it under the
# 255-byte file-name limit of common file systems, with room to spare.
MAX_ID_BYTES = 200


def id_problem(track_id: str) -> str | None:
    """Why `track_id` cannot name cache files (None when it can): characters outside SAFE_ID, or too long."""
    if not SAFE_ID.match(track_id):
        return "cannot name a cache file (letters, digits and _ . + - only)"
    size = len(track_id.encode("utf-8"))
    if size > MAX_ID_BYTES:
        return (f"is {size} bytes long; cache files are named by it and a file name holds at most 255 bytes: "
                f"give a track_id of at most {MAX_ID_BYTES}")
    return None


class Track(NamedTuple):
    track_id: str  # unique in its corpus, matches SAFE_ID ("blues.00012", "Beats_beat_1_wav-1c2d3e4f")
    genre: str  # class name (a GTZAN genre for GTZAN), UNLABELLED for a file with none; label = its index in classes
    path: str  # the audio file
    artist: str | None = None  # manifest `artist` column (None: unknown; GTZAN's come from Sturm's index)
    split: str | None = None  # manifest `split` column: "train", "valid" or "test" (None: no such column)
    origin: str | None = None  # where it is listed, for messages ("corpus.csv line 7"); None: its path says it


class Discovery(NamedTuple):
    """What a scan of a corpus found (`gtzan.scan`, `folder.scan`, `manifest.read`)."""

    tracks: list[Track]  # good tracks (header-level audio check passed), sorted by track id
    skipped: list[tuple[str, str]]  # (path, cause) of every file or folder not used, sorted by path
    base: str  # the folder holding the class folders (GTZAN, labelled folder) or the manifest's folder
    classes: tuple[str, ...] = ()  # the corpus's class names in label order
    seconds: dict = {}  # path -> duration in s of each good track, from its header (`audio.check`)
    skipped_class: dict = {}  # path -> class of a file not used, where it belongs to one (its folder or label)


def slug(text: str, max_chars: int = SLUG_CHARS) -> str:
    """ASCII letters and digits of `text` (accents folded: "Été" -> "Ete"), other runs as "_", trimmed."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9]+", "_", ascii_text).strip("_")[:max_chars].rstrip("_")


def short_hash(text: str) -> str:
    """8 hex digits of the SHA-1 of `text` in Unicode NFC (macOS may list names decomposed: same hash)."""
    return hashlib.sha1(unicodedata.normalize("NFC", text).encode("utf-8")).hexdigest()[:8]


def path_track_id(relative_path: str) -> str:
    """Track id of a file from its '/'-separated path relative to the corpus (extension included).

    >>> path_track_id("Acoustic/live sets/take 1 (final).wav")
    'Acoustic_live_sets_take_1_final_wav-faf93d71'
    """
    return f"{slug(relative_path) or 'track'}-{short_hash(relative_path)}"


def label_warnings(labels) -> list[str]:
    """What to warn about a corpus's class names, which are exact strings: names holding invisible characters
    (format characters such as a zero-width space, controls), which print like another name, and names that
    differ only in case, spacing or such characters, which are separate classes that look like one.
    Each item is one sentence; repr() shows the invisible characters as escapes."""
    out = []
    by_look: dict[str, list[str]] = {}
    for name in sorted(labels):
        hidden = sorted({c for c in name if unicodedata.category(c) in ("Cf", "Cc", "Co", "Cn", "Zl", "Zp")})
        if hidden:
            what = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in hidden)
            out.append(f"label {name!r} holds invisible characters ({what}): it prints like "
                       f"{_look(name)!r} but is another class")
        by_look.setdefault(_look(name).casefold(), []).append(name)
    for twins in by_look.values():
        if len(twins) > 1:
            out.append(f"labels {' and '.join(map(repr, twins))} differ only in case, spacing or invisible characters: "
                       f"they are {len(twins)} classes (use one spelling to merge them)")
    return out


def _look(name: str) -> str:
    """A name as it prints: NFKC, invisible characters dropped, runs of spaces as one."""
    visible = "".join(c for c in unicodedata.normalize("NFKC", name)
                      if unicodedata.category(c) not in ("Cf", "Cc", "Co", "Cn", "Zl", "Zp"))
    return " ".join(visible.split())
