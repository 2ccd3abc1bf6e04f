"""Tag a library: classify every audio file under folders and manifests, streaming one row per file to a CSV or
JSONL file that a re-run resumes (`launch.predict --output`; WORKSPACE.md, "Long files and libraries")."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import pathlib
import sys
from collections import Counter
from collections.abc import Iterable, Sequence

from mgc_jax.data.audio import AUDIO_EXTENSIONS
from mgc_jax.errors import AudioError, DataError

FORMATS = (".csv", ".jsonl")
CSV_COLUMNS = ("file", "class", "probability", "top", "votes", "n_clips", "duration_s", "rule", "warnings", "error")
MANIFEST_SUFFIX = ".csv"
_ENCODING = dict(encoding="utf-8", errors="surrogateescape")  # file names need not be UTF-8: keep their bytes


@dataclasses.dataclass
class Inputs:
    """What `expand` found: the files to classify (in order, no duplicates) and inputs that are not usable."""

    files: list[str]
    bad: list[tuple[str, str]]  # (path, cause)
    other_files: int  # files under the folders that are not audio (by extension), skipped
    order: list[str]  # every file and bad input, in the order of the paths given (a bad input where it was named)


def expand(paths: Sequence[str]) -> Inputs:
    """Files, folders and manifests -> the audio files they name, each once, in order.

    A folder gives every file below it with an audio extension (recursively, sorted; hidden entries skipped,
    other files counted); a `.csv` manifest gives its `path` column (relative to the manifest's folder; other
    columns ignored, so a training manifest works); any other path is a file. A missing path or an unreadable
    manifest is a bad input (`Inputs.bad`), never an exception; "-" (standard input) is refused.
    """
    files, bad, other, seen, order = [], [], 0, set(), []

    def add(path: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)
            order.append(path)

    def refuse(path: str, cause: str) -> None:
        bad.append((path, cause))
        order.append(path)

    for p in paths:
        if p == "-":
            raise DataError("'-': standard input is not read; give audio files, folders or manifests (PATH.csv)")
        if os.path.isdir(p):
            found, n_other = _walk(p)
            other += n_other
            if not found:  # named on the command line: say so rather than classify nothing silently
                refuse(p, "is a directory, not an audio file (and holds no audio file)")
            for f in found:
                add(f)
        elif os.path.isfile(p) and p.lower().endswith(MANIFEST_SUFFIX):
            try:
                for f in _manifest_paths(p):
                    add(f)
            except (DataError, OSError, UnicodeDecodeError, csv.Error) as e:
                refuse(p, f"unreadable manifest ({e})")
        elif os.path.lexists(p):
            add(p)
        else:
            refuse(p, "no such file or folder")
    return Inputs(files, bad, other, order)


def _walk(root: str) -> tuple[list[str], int]:
    """Audio files below `root` (sorted, hidden entries and links to folders skipped) and the count of others."""
    audio, other = [], 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            if name.rpartition(".")[2].lower() in AUDIO_EXTENSIONS and "." in name:
                audio.append(os.path.join(folder, name))
            else:
                other += 1
    return audio, other


def _manifest_paths(manifest: str) -> list[str]:
    base = os.path.dirname(manifest)
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "path" not in [h.strip() for h in reader.fieldnames]:
            raise DataError(f"no 'path' column in its header ({', '.join(reader.fieldnames or [])})")
        key = next(h for h in reader.fieldnames if h.strip() == "path")
        return [os.path.join(base, row[key].strip()) for row in reader if (row.get(key) or "").strip()]


class ResultFile:
    """The output of `tag`: `done` (file -> its row, from earlier runs) and `write(row)` (one line, flushed).

    Each row is handed to the kernel as soon as it is written, so a killed run keeps every finished line; a
    partial last line (the kill came inside a write) is cut off when the file is opened again, and its file is
    classified again. File names that are not UTF-8 keep their bytes (surrogateescape), so they match on resume.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.format = self.check_name(path)
        self.done: dict[str, dict] = {}
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            self._read()
        self._f = open(self.path, "a", newline="", **_ENCODING)
        if fresh and self.format == ".csv":
            self._line(_csv_line(CSV_COLUMNS))

    @staticmethod
    def check_name(path: str | os.PathLike) -> str:
        """The format of an output file name (".csv" or ".jsonl"); DataError for another name or a folder."""
        fmt = pathlib.Path(path).suffix.lower()
        if fmt not in FORMATS:
            raise DataError(f"--output={path}: give a .csv or .jsonl file name")
        if os.path.isdir(path):
            raise DataError(f"--output={path}: a folder; give a .csv or .jsonl file name")
        return fmt

    def _read(self) -> None:
        raw = self.path.read_bytes()
        if not raw.endswith(b"\n"):  # a run killed while writing a line: drop the partial line, it is redone
            with open(self.path, "r+b") as f:
                f.truncate(raw.rfind(b"\n") + 1)
            raw = raw[:raw.rfind(b"\n") + 1]
        text = raw.decode(**_ENCODING)
        if self.format == ".jsonl":
            rows = []
            for i, line in enumerate(text.splitlines(), 1):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{self.path}:{i}: not a JSON line ({e.msg}); not a result file of "
                                    "launch.predict? give another --output") from None
        else:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
                raise DataError(f"{self.path}: its header is not launch.predict's ({', '.join(CSV_COLUMNS)}); "
                                "give another --output")
            rows = list(reader)
        for row in rows:
            if isinstance(row, dict) and "file" in row:
                self.done[row["file"]] = row

    def write(self, row: dict) -> None:
        if self.format == ".jsonl":
            line = json.dumps(row, ensure_ascii=False) + "\n"
        else:
            line = _csv_line([_csv_value(row, c) for c in CSV_COLUMNS])
        self._line(line)
        self.done[row["file"]] = row

    def _line(self, line: str) -> None:
        self._f.write(line)
        self._f.flush()  # in the kernel's hands: a killed process keeps every finished line

    def close(self) -> None:
        self._f.close()


def _csv_line(values: Iterable) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _csv_value(row: dict, column: str):
    if column == "class":
        return row.get("genre", "")
    if column == "probability":
        return f"{row['top'][0][1]:.6f}" if row.get("top") else ""
    if column == "top":
        return "; ".join(f"{g} {p:.4f}" for g, p in row.get("top", []))
    if column == "votes":
        return "; ".join(f"{g} {n}" for g, n in row.get("votes", {}).items())
    if column == "warnings":
        return "; ".join(row.get("warnings") or ())
    return row.get(column, "")


@dataclasses.dataclass
class Summary:
    files: int  # inputs named (files found, plus bad inputs)
    classified: int  # in the output with a class (this run and earlier ones)
    resumed: int  # already in the output before this run
    hours: float  # audio classified, all runs
    per_class: dict  # class -> files
    bad: list  # (path, cause), this run and earlier ones
    other_files: int

    def lines(self, output) -> list[str]:
        per_class = ", ".join(f"{c} {n}" for c, n in self.per_class.items()) or "none"
        out = [f"{self.files} files: {self.classified} classified ({self.hours:.2f} hours of audio), "
               f"{len(self.bad)} bad; {self.resumed} were already in {output}",
               f"per class: {per_class}"]
        if self.other_files:
            out.append(f"{self.other_files} files under the folders are not audio (by extension) and were skipped")
        if self.bad:
            out.append(f"{len(self.bad)} files could not be classified (rows with an error in {output}):")
            out += [f"  {p}: {cause}" for p, cause in self.bad[:20]]
            if len(self.bad) > 20:
                out.append(f"  ... and {len(self.bad) - 20} more")
        return out


def tag(classifier, inputs: Inputs, output: str | os.PathLike, *, progress: bool = True) -> Summary:
    """Classify `inputs.files` not already in `output`, appending one row per file; the `Summary` of all rows.

    classifier: a `mgc_jax.serve.inference.Classifier`. A file that fails (unreadable, too short, any error) gets a
    row with its cause and the run goes on; a bad input (missing path, bad manifest) gets one too.
    """
    from tqdm import tqdm

    results = ResultFile(output)
    resumed = sum(1 for f in inputs.files if f in results.done)
    try:
        for path, cause in inputs.bad:
            if path not in results.done:
                results.write({"file": path, "error": cause})
        todo = [f for f in inputs.files if f not in results.done]
        bar = tqdm(total=len(todo), unit="file", disable=not progress, file=sys.stderr, dynamic_ncols=True,
                   smoothing=0.1, mininterval=1.0)
        hours = 0.0
        for path in todo:
            row = classify_one(classifier, path)
            results.write(row)
            if "error" in row:
                bar.write(_printable(f"{path}: error: {row['error']}"), file=sys.stderr)
            else:
                hours += row["duration_s"] / 3600
                bar.set_postfix_str(f"{hours:.2f} h of audio", refresh=False)
            bar.update()
        bar.close()
    finally:
        results.close()
    return summarize(results.done, inputs, resumed)


def classify_one(classifier, path: str) -> dict:
    """One output row: {"file", **Prediction.to_dict()} or {"file", "error"}; never raises but for Ctrl-C."""
    try:
        return {"file": path, **classifier.predict(path).to_dict()}
    except AudioError as e:
        return {"file": path, "error": e.cause}
    except MemoryError:
        return {"file": path, "error": "out of memory classifying it"}
    except Exception as e:  # noqa: BLE001 - one file never stops a library; the cause is in its row
        return {"file": path, "error": f"{type(e).__name__}: {' '.join(str(e).split())}"}


def summarize(done: dict, inputs: Inputs, resumed: int) -> Summary:
    named = inputs.files + [p for p, _ in inputs.bad]
    rows = [done[f] for f in named if f in done]
    ok = [r for r in rows if not r.get("error")]
    per_class = Counter(r.get("genre") or r.get("class") for r in ok)
    hours = sum(float(r.get("duration_s") or 0) for r in ok) / 3600
    bad = [(r["file"], r["error"]) for r in rows if r.get("error")]
    return Summary(len(named), len(ok), resumed, hours, dict(per_class.most_common()), bad, inputs.other_files)


def _printable(text: str) -> str:
    """`text` as the terminal's encoding can show it (a non-UTF-8 stdout, a file name that is not UTF-8)."""
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding, "replace")
