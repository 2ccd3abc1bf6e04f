"""What a corpus holds, printed before anything is refused: classes, tracks and hours per class, formats, and the
files not used counted by cause (a few named; all of them in the workdir's corpora/<corpus>/skipped.tsv)."""
from __future__ import annotations

import collections
import csv
import io
import os
import pathlib
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from mgc_jax.workdir import atomic_write

SHOWN = 5  # files named per cause in the printed summary
_LINE = re.compile(r"^[^:]*\bline \d+: ")  # "corpus.csv line 7: no such file" -> "no such file"
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?!\w)")
_PATH = re.compile(r"(?:^|(?<=\s))(?:[A-Za-z]:)?[\\/].*$")  # a path runs to the end (it may hold spaces)


def cause_kind(cause: str) -> str:
    """A cause without its file's particulars (manifest line, numbers, paths, the parenthesised detail):
    "m.csv line 7: truncated: 12 of 99 declared frames decode" -> "truncated: N of N declared frames decode"."""
    text = _LINE.sub("", cause).split(" (", 1)[0]
    return _NUMBER.sub("N", _PATH.sub("PATH", text)).strip() or cause


def by_cause(skipped: Iterable[tuple[str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(cause kind, [(path, cause), ...])], the most frequent cause first."""
    groups: dict[str, list] = collections.defaultdict(list)
    for path, cause in skipped:
        groups[cause_kind(cause)].append((path, cause))
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def summary_lines(skipped: Iterable[tuple[str, str]], shown: int = SHOWN) -> list[str]:
    """One line per cause: '    N x cause: path: full cause; ...; and K more' (the first `shown` named)."""
    out = []
    for kind, items in by_cause(skipped):
        named = "; ".join(f"{p}: {c}" for p, c in items[:shown])
        more = f"; and {len(items) - shown} more" if len(items) > shown else ""
        out.append(f"    {len(items)} x {kind}: {named}{more}")
    return out


class CorpusSummary(NamedTuple):
    """Counts of a corpus as discovered (or as extracted: `with_problems`)."""

    name: str
    kind: str
    root: str
    classes: tuple[str, ...]  # the corpus's classes (none for an unlabelled folder)
    tracks: Mapping[str, int]  # class (UNLABELLED: "") -> usable tracks
    seconds: Mapping[str, float]  # class -> their audio in seconds (headers)
    formats: Mapping[str, int]  # file extension -> usable tracks
    skipped: tuple[tuple[str, str], ...]  # (path, cause) of every file not used
    skipped_class: Mapping[str, str]  # path -> class, for the files not used that belong to one

    @classmethod
    def of(cls, source, tracks=None, problems: Iterable[tuple[str, str]] = ()) -> CorpusSummary:
        """The summary of a `sources.Source`; `tracks` (default: its tracks) and extra `problems` (path, cause)
        after extraction. A problem's class is its track's."""
        tracks = list(source.tracks if tracks is None else tracks)
        n, secs, formats = collections.Counter(), collections.defaultdict(float), collections.Counter()
        for t in tracks:
            n[t.genre] += 1
            secs[t.genre] += float(source.seconds.get(t.path, 0.0))
            formats[pathlib.Path(t.path).suffix.lower().lstrip(".") or "none"] += 1
        skipped = tuple(source.skipped) + tuple(problems)
        class_of = dict(source.skipped_class) | {t.path: t.genre for t in source.tracks if t.genre}
        return cls(source.name, source.kind, str(source.root), tuple(source.classes), dict(n), dict(secs),
                   dict(formats), skipped, {p: class_of[p] for p, _ in skipped if p in class_of})

    def lines(self, skipped_file: str | os.PathLike | None = None) -> list[str]:
        """The printed summary: a head line, one line per class, the files not used by cause."""
        total = sum(self.tracks.values())
        fmt = ", ".join(f"{k} {v}" for k, v in sorted(self.formats.items(), key=lambda kv: (-kv[1], kv[0])))
        out = [f"corpus {self.name} ({self.kind}, {self.root}): {len(self.classes)} classes, {total} tracks, "
               f"{_duration(sum(self.seconds.values()))}" + (f"; formats: {fmt}" if fmt else "")]
        rows = list(self.classes) + ([""] if self.tracks.get("") else [])
        width = max((len(c) for c in rows), default=0)
        for c in rows:
            lost = sum(1 for p, _ in self.skipped if self.skipped_class.get(p) == c) if c else 0
            out.append(f"  {c or '(no class)':<{width}}  {self.tracks.get(c, 0):5d} tracks  "
                       f"{_duration(self.seconds.get(c, 0.0)):>9}" + (f"  ({lost} files not used)" if lost else ""))
        if self.skipped:
            where = f" (all in {skipped_file})" if skipped_file else ""
            out.append(f"  {len(self.skipped)} files not used, by cause{where}:")
            out += summary_lines(self.skipped)
        return out

    def class_note(self, cls: str) -> str:
        """'k of class C's n files were not used (j x cause, ...)'."""
        items = [c for p, c in self.skipped if self.skipped_class.get(p) == cls]
        if not items:
            return f"no file of class {cls!r} was left out"
        causes = ", ".join(f"{v} x {k}" for k, v in collections.Counter(map(cause_kind, items)).most_common())
        return (f"{len(items)} of the {len(items) + self.tracks.get(cls, 0)} files of class {cls!r} were not used "
                f"({causes})")

    def explain(self, message: str) -> str:
        """A class-level refusal with `class_note` of each class it names (as "class 'x'")."""
        return message + "".join(f"; {self.class_note(c)}" for c in self.classes if f"class {c!r}" in message)

    def tsv(self) -> str:
        """Every file not used, one per line: path, class, cause (tab-separated, with a header)."""
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="\t", lineterminator="\n")
        w.writerow(("path", "class", "cause"))
        for path, cause in sorted(self.skipped):
            w.writerow((path, self.skipped_class.get(path, ""), cause))
        return buf.getvalue()


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def write_skipped(path: str | os.PathLike, summary: CorpusSummary) -> pathlib.Path:
    """Write `summary.tsv()` to `path` atomically, unless it already holds exactly that (a read-only workdir
    whose list did not change stays untouched)."""
    path, text = pathlib.Path(path), summary.tsv()
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except (OSError, UnicodeDecodeError):
        pass
    with atomic_write(path, "w") as f:
        f.write(text)
    return path
