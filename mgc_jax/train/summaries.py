"""TensorBoard event files (tensorboardX) of a training run, beside its metrics.jsonl: the epoch curves, the test
results as scalars and images, the config as hparams; and markdown tables as text summaries of a results
directory. No step is written twice: a writer first reads back the last step of every tag already logged, so a
resumed run continues the same curves (tags and commands: WORKSPACE.md "Watching runs").
"""
from __future__ import annotations

import itertools
import os
import pathlib
import struct
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from absl import logging

from mgc_jax import evaluate

EVENTS_GLOB = "events.out.tfevents.*"
# metrics.jsonl key -> scalar tag (mgc_jax.train.loop's epoch record).
EPOCH_TAGS = {"loss": "train/loss", "train_clip_acc": "train/clip_accuracy", "train_track_acc": "train/track_accuracy",
              "valid_loss": "valid/loss", "valid_clip_acc": "valid/clip_accuracy",
              "valid_track_acc": "valid/track_accuracy", "lr": "learning_rate", "clips_per_s": "speed/clips_per_s",
              "epoch_s": "speed/epoch_s"}
TEST_TAGS = {"track_acc": "test/track_accuracy", "clip_acc": "test/clip_accuracy", "loss": "test/loss"}
HPARAMS_TAG = "_hparams_/experiment"  # tensorboardX's tag of the hparams summary: written once per run
HPARAMS_METRICS = ("test/track_accuracy", "valid/track_accuracy")  # the hparams table's columns
N_FEATURE_TRACKS = 3  # test tracks whose first clip is shown per feature kind
_WRITERS = itertools.count()  # tensorboardX names files by the second and host: pid and count keep them apart


def logged_steps(log_dir: str | pathlib.Path) -> dict[str, int]:
    """{tag: last step} over the event files of `log_dir` (not its subdirectories); {} when there are none.

    Reads the TFRecord framing directly (uint64 length, uint32 CRC, payload, uint32 CRC); a record cut by a
    kill ends that file.
    """
    # tensorboardX is imported only by the functions that write or read events: the import takes about a second
    # (it loads boto3 where installed), which importers of this module that write nothing need not pay.
    from tensorboardX.proto import event_pb2

    last: dict[str, int] = {}
    for path in sorted(pathlib.Path(log_dir).glob(EVENTS_GLOB)):
        try:
            data = path.read_bytes()
        except OSError as e:
            logging.warning("%s: unreadable event file (%s)", path, e)
            continue
        pos = 0
        while pos + 12 <= len(data):
            (n,) = struct.unpack_from("<Q", data, pos)
            if pos + 12 + n + 4 > len(data):
                break
            event = event_pb2.Event()
            try:
                event.ParseFromString(data[pos + 12: pos + 12 + n])
            except Exception:  # noqa: BLE001  (protobuf's DecodeError: a damaged record ends the file)
                break
            for value in event.summary.value:
                last[value.tag] = max(last.get(value.tag, event.step), event.step)
            pos += 12 + n + 4
    return last


class EventWriter:
    """A tensorboardX SummaryWriter on `log_dir`, opened at the first write, that drops steps already logged.

    enabled=False (--notensorboard, the non-primary processes of a multi-process run) writes nothing.
    """

    def __init__(self, log_dir: str | pathlib.Path, *, enabled: bool = True):
        self.log_dir, self.enabled = pathlib.Path(log_dir), enabled
        self._writer = None
        self._last = logged_steps(self.log_dir) if enabled else {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def is_new(self, tag: str, step: int) -> bool:
        return self.enabled and step > self._last.get(tag, -1)

    @property
    def writer(self):
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(self.log_dir), flush_secs=30,
                                         filename_suffix=f".{os.getpid()}.{next(_WRITERS)}")
        return self._writer

    def _wrote(self, tag: str, step: int) -> None:
        self._last[tag] = step

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.is_new(tag, step):
            self.writer.add_scalar(tag, float(value), step)
            self._wrote(tag, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """image: uint8 or float in [0, 1], [H, W] or [H, W, 3|4]."""
        if self.is_new(tag, step):
            self.writer.add_image(tag, image, step, dataformats="HW" if image.ndim == 2 else "HWC")
            self._wrote(tag, step)

    def text(self, tag: str, markdown: str, step: int) -> None:
        # tensorboardX stores a text summary under "<tag>/text_summary".
        if self.is_new(f"{tag}/text_summary", step):
            self.writer.add_text(tag, markdown, step)
            self._wrote(f"{tag}/text_summary", step)

    def next_text_step(self, tags: Iterable[str]) -> int:
        """One past the last step any of the text summaries `tags` was written at (0 when none was)."""
        return max((self._last[f"{t}/text_summary"] + 1 for t in tags if f"{t}/text_summary" in self._last),
                   default=0)


class RunSummaries(EventWriter):
    """The event files of one training run (module docstring): `start` (hyper-parameters, and the epochs of
    metrics.jsonl a resumed run has), `epochs` after each epoch, `finish` after the test."""

    def start(self, config: Mapping, records: Iterable[Mapping] = ()) -> None:
        """The run's config (`TrainConfig.to_dict()`) as hparams, once per run; then `epochs(records)`."""
        if self.is_new(HPARAMS_TAG, 0):
            from tensorboardX.summary import hparams

            flat = {k: (v if isinstance(v, (bool, int, float, str)) else str(v)) for k, v in _flatten(config).items()}
            for summary in hparams(flat, {m: 0.0 for m in HPARAMS_METRICS}):
                self.writer.file_writer.add_summary(summary, 0)
            self._wrote(HPARAMS_TAG, 0)
        self.epochs(records)

    def epochs(self, records: Iterable[Mapping]) -> None:
        """The scalars (EPOCH_TAGS) of metrics.jsonl records not logged yet, step = epoch; then flush."""
        if not self.enabled:
            return
        for rec in records:
            for key, tag in EPOCH_TAGS.items():
                if key in rec:
                    self.scalar(tag, rec[key], int(rec["epoch"]))
        self.flush()

    def finish(self, step: int, *, test: Mapping, best_epoch: int, probs: Sequence[np.ndarray], labels,
               genres: Sequence[str], test_set=None, ids: Sequence[str] = ()) -> None:
        """The test results at step `step` (the epochs trained): accuracies (`steps.track_metrics`'s dict), the
        confusion matrix of the tracks' majority votes, and the first clip of N_FEATURE_TRACKS test tracks per
        kind (test_set: a ClipDataset; its maps as the net gets them, before standardisation)."""
        if not self.enabled:
            return
        for key in ("track_acc", "clip_acc", "loss"):
            self.scalar(TEST_TAGS[key], test[key], step)
        self.scalar("best_epoch", best_epoch, step)
        if self.is_new("test/confusion", step):
            votes = np.array([evaluate.majority_vote(p) for p in probs], np.int64)
            cm = evaluate.confusion_matrix(np.asarray(labels, np.int64), votes, n_classes=len(genres))
            self.image("test/confusion", confusion_image(cm, genres), step)
        for i in range(min(N_FEATURE_TRACKS, len(ids))) if test_set is not None else ():
            for kind, clips in test_set.track_clips(i).items():
                self.image(f"features/{ids[i]}/{kind}", map_image(clips[0]), step)
        self.flush()


def _flatten(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def map_image(m: np.ndarray, *, min_rows: int = 64) -> np.ndarray:
    """A feature map float [T, F] as a grey image float [F', T] in [0, 1]: frequency/feature up, time right,
    scaled between its 1st and 99th percentiles; each feature row repeated up to `min_rows` rows in all (8
    music features are 8 pixels high otherwise)."""
    m = np.asarray(m, np.float32).T[::-1]
    lo, hi = np.percentile(m, [1, 99]) if m.size else (0.0, 1.0)
    img = np.clip((m - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    return np.repeat(img, max(1, -(-min_rows // len(img))), axis=0) if len(img) else img


def confusion_image(cm: np.ndarray, genres: Sequence[str]) -> np.ndarray:
    """A confusion matrix (counts, rows = true class) drawn as row percentages: uint8 RGBA [H, W, 4]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pct = evaluate.row_percent(cm)
    n = len(genres)
    fig = Figure(figsize=(1.6 + 0.45 * n, 1.2 + 0.42 * n), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.imshow(np.nan_to_num(pct), cmap="Blues", vmin=0, vmax=100)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if pct[i, j] > 60 else "black")
    ax.set_xticks(range(n), genres, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), genres, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def write_tables(log_dir: str | pathlib.Path, tables: Mapping[str, str], *, enabled: bool = True) -> None:
    """Markdown tables as text summaries in `log_dir` (a results directory), at one step past the last one
    these tags were written at: each command that writes them adds a step."""
    with EventWriter(log_dir, enabled=enabled) as w:
        step = w.next_text_step(tables)
        for tag, text in tables.items():
            w.text(tag, text, step)
