"""Reading TensorBoard event files back with TensorBoard's own readers (tests/test_summaries.py and the launcher
suites): the accumulator TensorBoard's UI uses, and every event of every file as written."""
from __future__ import annotations

import pathlib

from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader


def accumulator(log_dir) -> ea.EventAccumulator:
    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def raw_steps(log_dir) -> dict[str, list[int]]:
    """{tag: steps} over every event in every event file, in file order: what a reader that purges nothing
    sees (a step written twice shows twice)."""
    out: dict[str, list[int]] = {}
    for path in sorted(pathlib.Path(log_dir).glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                out.setdefault(value.tag, []).append(event.step)
    return out
