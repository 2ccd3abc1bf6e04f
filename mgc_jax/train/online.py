"""Online features: the training clips' maps computed from the audio inside the jitted training step
(`--features=online`), so audio augmentations and gradients reach the waveform.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import jax
import numpy as np
from absl import logging
from flax import nnx
from jax.sharding import PartitionSpec

from dsp import n_frames
from dsp.features import feature_maps
from mgc_jax import sharding
from mgc_jax.data import audio
from mgc_jax.data.augment import augment as apply_augment
from mgc_jax.data.clips import (
    CLIP_FRAMES,
    ClipBatch,
    ClipSlots,
    clip_order,
    clip_starts,
    train_starts,
)
from mgc_jax.data.maps import min_samples
from mgc_jax.errors import DataError
from mgc_jax.nets.input_transform import transform_stft
from mgc_jax.train.steps import _train_step

AUG_STREAM = 0x0A06  # fold_in constant that separates the augmentation keys from the dropout keys


def common_length(n_samples_kept: Sequence[int], cfg) -> int:
    """L: the length every track is cropped or padded to, the most common cached crop length (ties: the longer).

    n_samples_kept: `mgc_jax.data.maps.crop_length` of each track (the cache index's "n_samples_kept").
    Raises DataError when L is shorter than one clip.
    """
    import collections

    if not len(n_samples_kept):
        raise DataError("online features need at least one track")
    counts = collections.Counter(int(n) for n in n_samples_kept)
    length = max(counts, key=lambda n: (counts[n], n))
    if length < min_samples(cfg):
        raise DataError(f"online features: the common track length is {length} samples, less than one "
                        f"{CLIP_FRAMES}-frame clip ({min_samples(cfg)} samples)")
    return length


class OnlineClips:
    """The training clips of a list of tracks as (whole track audio, start frame): what the online step reads.

    Args:
      audio: float32 [N, L] the tracks, cropped or zero-padded to one length L.
      labels: int [N] class of each track.
      feature_cfg: the dsp.FeatureConfig of the maps.
      track_ids: the N track ids (for messages).
      lengths: int [N] samples of each track's own audio in its row (default: L for all); a padded track's
        clips come from its own frames only.
      max_clips: clips per track and epoch at most, spread over its frames as `mgc_jax.data.clips.ClipDataset`
        (None: every grid window).

    `batches` yields `ClipBatch`es whose x is {"audio": float32 [b, L], "start": int32 [b] start frame,
    "track": int32 [b] track index}, in the clip order a `ClipDataset` of the same tracks gives.
    """

    def __init__(self, audio: np.ndarray, labels, feature_cfg, track_ids: Sequence[str] = (),
                 lengths: Sequence[int] | None = None, max_clips: int | None = None):
        self.audio = np.ascontiguousarray(audio, np.float32)
        self.labels = np.asarray(labels, np.int32)
        self.feature_cfg = feature_cfg
        self.track_ids = tuple(track_ids) or tuple(str(i) for i in range(len(self.audio)))
        if self.audio.ndim != 2 or self.labels.shape != (len(self.audio),):
            raise DataError(f"online clips: audio {self.audio.shape} and labels {self.labels.shape} must be "
                            "[N, L] and [N]")
        length = self.audio.shape[1]
        lengths = [length] * len(self.audio) if lengths is None else [min(int(n), length) for n in lengths]
        starts = [clip_starts(n_frames(n, feature_cfg), max_clips=max_clips) for n in lengths]
        short = [t for t, s in zip(self.track_ids, starts) if s.size == 0]
        if short:
            raise DataError(f"online clips: track {short[0]} is shorter than one clip")
        self._slots = ClipSlots.of([n_frames(n, feature_cfg) for n in lengths], max_clips)
        self._start = self._slots.start.astype(np.int32)
        self._track = np.concatenate([np.full(s.size, i, np.int32) for i, s in enumerate(starts)])

    @classmethod
    def from_corpus(cls, corpus, track_ids: Sequence[str], labels, *, max_clips: int | None = None) -> "OnlineClips":
        """Load `track_ids` of an mgc_jax.data.corpus.Corpus (audio.load at the cache's rate), each cropped to its
        cached crop length, then cropped or zero-padded to `common_length` over all the corpus's tracks."""
        cfg, entries = corpus.cfg, corpus.cache.entries()
        kept = {t.track_id: int(entries[t.track_id]["n_samples_kept"]) for t in corpus.tracks}
        length = common_length(list(kept.values()), cfg)
        path = {t.track_id: t.path for t in corpus.tracks}
        rows = np.zeros((len(track_ids), length), np.float32)
        for i, tid in enumerate(track_ids):
            x = audio.load(path[tid], cfg.sample_rate)
            if x.size < kept[tid]:
                raise DataError(f"{path[tid]}: {x.size} samples now, {kept[tid]} kept when the cache was made; "
                                "re-extract the corpus")
            n = min(kept[tid], length)
            rows[i, :n] = x[:n]
        longer, shorter = (sum(op(kept[t], length) for t in track_ids) for op in (int.__gt__, int.__lt__))
        logging.info("online features: %d tracks of %d samples (%.2f s) in host memory (%.0f MB)%s", len(rows),
                     length, length / cfg.sample_rate, rows.nbytes / 2**20,
                     f"; {longer} longer tracks cropped and {shorter} shorter ones zero-padded to it: their maps "
                     "differ from the cache" if longer or shorter else "")
        return cls(rows, labels, cfg, track_ids, lengths=[kept[t] for t in track_ids], max_clips=max_clips)

    @property
    def n_clips(self) -> int:
        return int(self._start.size)

    @property
    def n_tracks(self) -> int:
        return len(self.audio)

    def batches(self, batch_size: int, *, seed: int, epoch: int, shuffle: bool = True,
                crops: str = "grid") -> Iterator[ClipBatch]:
        """All clips once in batches of `batch_size` (the last one smaller), order `clip_order(seed, epoch)`,
        starts `mgc_jax.data.clips.train_starts` (the same clips a `ClipDataset` of the tracks gives)."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        order = clip_order(self.n_clips, seed=seed, epoch=epoch, shuffle=shuffle)
        start = train_starts(self._slots, crops=crops, seed=seed, epoch=epoch).astype(np.int32)
        for a in range(0, self.n_clips, batch_size):
            idx = order[a:a + batch_size]
            track = self._track[idx]
            x = {"audio": self.audio[track], "start": start[idx], "track": track}
            yield ClipBatch(x, self.labels[track], track)


def clip_maps(x: jax.Array, start: jax.Array, key: jax.Array, *, cfg, kinds: Sequence[str],
              augment: Sequence[str] = (), stft_transform: str = "none") -> dict[str, jax.Array]:
    """One clip's maps from its whole track: kind -> float32 [128, F].

    x: float32 [L] the track; start: int32 [] first frame of the clip; key: the track's augmentation key
    (unused without `augment`). Differentiable in x (through dsp's gradient rules, where present).
    """
    if augment:
        x = apply_augment(x, key, augment)

    maps = feature_maps(x, cfg)
    maps = {"music": maps["music"], "stft": transform_stft(maps["stft"], stft_transform)}  # as the cached clips
    return {k: jax.lax.dynamic_slice_in_dim(maps[k], start, CLIP_FRAMES, axis=0) for k in kinds}


def augmentation_key(epoch_key: jax.Array, step) -> jax.Array:
    """The step's augmentation key (fold in the clip's track index for a track's own key)."""
    return jax.random.fold_in(jax.random.fold_in(epoch_key, AUG_STREAM), step)


@functools.lru_cache(maxsize=8)
def sharded_online_step(mesh, feature_cfg, kinds: tuple[str, ...], augment: tuple[str, ...] = (),
                        stft_transform: str = "none", mixup: float = 0.0):
    """The online training step over `mesh`: the signature of `mgc_jax.train.steps.sharded_train_step`,
    (graphdef, state, x, y, w, key_data, step, stats) -> (state, loss [], probs float32 [B, C]), with
    x = {"audio": float32 [B, L], "start": int32 [B], "track": int32 [B]} batch-sharded.

    The maps are computed under `jax.shard_map`, each device for its own rows (on CPU dsp loops over the
    tracks, and a loop's iterations cannot be partitioned: see mgc_jax.sharding); the optimizer step is the
    cached path's `_train_step` on the clips.
    """
    rep, rows = sharding.replicated(mesh), sharding.batch_sharding(mesh)
    one_clip = functools.partial(clip_maps, cfg=feature_cfg, kinds=kinds, augment=augment,
                                 stft_transform=stft_transform)

    def device_clips(audio, start, track, aug_key_data):
        aug_key = jax.random.wrap_key_data(aug_key_data)
        keys = jax.vmap(lambda t: jax.random.fold_in(aug_key, t))(track)
        return jax.vmap(one_clip)(audio, start, keys)

    data = PartitionSpec(sharding.DATA_AXIS)
    clips_of = jax.shard_map(device_clips, mesh=mesh, in_specs=(data, data, data, PartitionSpec()),
                             out_specs=data, check_vma=False)

    def step_fn(graphdef, state, x, y, w, key_data, step, stats):
        epoch_key = jax.random.wrap_key_data(key_data)
        aug_key_data = jax.random.key_data(augmentation_key(epoch_key, step))
        clips = clips_of(x["audio"], x["start"], x["track"], aug_key_data)
        model, optimizer = nnx.merge(graphdef, state)
        loss, probs = _train_step(model, optimizer, clips, y, w, jax.random.fold_in(epoch_key, step), stats, mixup)
        return nnx.state((model, optimizer)), loss, probs

    return jax.jit(step_fn, static_argnums=0, donate_argnums=1,
                   in_shardings=(rep, rows, rows, rows, rep, rep, rep), out_shardings=(rep, rep, rep))
