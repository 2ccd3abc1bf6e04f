"""Bounded stages of the feature extraction: work done ahead in threads, in order, and one background writer.

The extraction (`mgc_jax.data.extraction`) decodes and resamples files in `ahead` worker threads (libsndfile,
FFmpeg, soxr and hashlib release the GIL), computes the maps of earlier files in the calling thread (JAX, which
runs them asynchronously on its own threads) and writes earlier results on a writer thread. Every queue is
bounded, so what is held in memory depends on these bounds, not on the size of the corpus.
"""
from __future__ import annotations

import collections
import concurrent.futures
import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
_STOP = object()


def ordered(fn: Callable[[T], R], items: Iterable[T], *, workers: int, ahead: int) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) for each item, in the order of `items`, computed by `workers` threads.

    At most `ahead` results are computed or waiting beyond the one the caller holds, however many items there
    are. workers=0 calls fn inline (a serial run). Exceptions of fn reach the caller when it gets that item's
    result; closing the iterator early cancels what has not started and waits for what has.
    """
    if workers == 0:
        for item in items:
            yield item, fn(item)
        return
    if workers < 0 or ahead < 1:
        raise ValueError(f"workers={workers}, ahead={ahead}: need workers >= 0 and ahead >= 1")
    source = iter(items)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mgc-decode") as pool:
        pending = collections.deque((item, pool.submit(fn, item)) for item in itertools.islice(source, ahead))
        try:
            while pending:
                item, future = pending.popleft()
                result = future.result()
                for nxt in itertools.islice(source, 1):
                    pending.append((nxt, pool.submit(fn, nxt)))
                yield item, result
        finally:
            for _, future in pending:
                future.cancel()


class Background:
    """Runs fn(item) on one thread for each `put` item, in order; at most `depth` items wait.

    `put` blocks while the queue is full (so a slow disk slows the producer instead of filling memory). The
    first exception of fn (also KeyboardInterrupt or an OSError of a full disk) stops the work: later items
    are dropped, and it is raised by the next `put` or by `close`.
    """

    def __init__(self, fn: Callable[[object], None], *, depth: int, name: str = "mgc-writer"):
        self._fn = fn
        self._queue: queue.Queue = queue.Queue(depth)
        self._error: BaseException | None = None
        # A daemon: a second Ctrl-C while `close` waits may leave the process without waiting for a write,
        # which atomic writes make safe.
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def put(self, item) -> None:
        while True:
            self._raise()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self, *, raise_error: bool = True) -> BaseException | None:
        """Wait until every item put so far is done (or dropped after an error); raise (or return) its error."""
        if self._thread.is_alive():  # (a second call finds it stopped)
            self._queue.put(_STOP)
        self._thread.join()
        if raise_error:
            self._raise()
        return self._error

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is None:
                try:
                    self._fn(item)
                except BaseException as e:  # noqa: BLE001  (handed to the producer thread, re-raised there)
                    self._error = e
