"""Waveform saliency: the gradient of a trained classifier's clip-averaged log-probability with respect to the
input samples, through the whole inference pipeline as one differentiable function (`TrackModel`).
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dsp import n_frames
from dsp.features import feature_maps
from mgc_jax import evaluate
from mgc_jax.data.clips import CLIP_FRAMES, clip_starts
from mgc_jax.data.maps import crop_length
from mgc_jax.nets.models import apply_model
from mgc_jax.nets.standardize import apply_stats


class Saliency(NamedTuple):
    genre: str  # the class explained: the classifier's decision
    label: int
    score: float  # S_c(x): mean clip log-probability of that class
    gradient: np.ndarray  # float32 [n] dS_c/dx, one value per input sample
    attribution: dict  # kind -> float32 [F]: gradient x input of the map, summed over frames, per column
    maps: dict  # kind -> float32 [T, F]: the whole-track maps (raw units) the attribution is over


class TrackModel:
    """Signal -> per-net clip log-probabilities, differentiable, for signals of `n_samples` samples.

    Args:
      trained: one or two `mgc_jax.serve.inference.Trained` (eval-mode models, their standardisers).
      feature_cfg: the dsp.FeatureConfig they were trained on.
      n_samples: the signal length (static: one compilation per length and nets, shared by every instance).
      max_clips: clips per signal at most (None: every window that fits, as `Classifier`).

    The pure functions (`maps`, `net_log_probs_from_maps`, `score`) take the nets' states and standardiser
    trees as arguments, so jitted callers compile once per `spec` (graph definitions, config, length), not per
    instance.
    """

    def __init__(self, trained: Sequence, feature_cfg, n_samples: int, *, max_clips: int | None = None):
        kept = crop_length(int(n_samples), feature_cfg)
        starts = clip_starts(n_frames(kept, feature_cfg), max_clips=max_clips)
        if starts.size == 0:
            raise ValueError(f"{n_samples} samples give no {CLIP_FRAMES}-frame clip")
        split = [nnx.split(t.model) for t in trained]
        self.spec = _Spec(tuple(g for g, _ in split), tuple(t.kinds for t in trained), feature_cfg, kept,
                          tuple(int(s) for s in starts))
        self.n_samples = int(n_samples)
        self.states = [st for _, st in split]
        self.stats = [None if t.standardizer is None else t.standardizer.to_tree() for t in trained]

    @property
    def params(self):
        """(states, stats): the arrays the compiled functions take besides the signal."""
        return self.states, self.stats

    # ------------------------------------------------------------------------------------ pure functions

    def maps(self, x: jax.Array) -> dict[str, jax.Array]:
        """x float32 [n_samples] -> kind -> float32 [T, F], whole-track maps of the cropped signal."""
        return _maps(self.spec, x)

    def net_log_probs_from_maps(self, params, maps: dict[str, jax.Array]) -> jax.Array:
        """float32 [nets, n_clips, C] clip log-probabilities of each net from the whole-track maps."""
        return _net_log_probs(self.spec, params, maps)

    @staticmethod
    def fused(net_log_probs: jax.Array) -> jax.Array:
        """[nets, n_clips, C] -> [n_clips, C] log of the clip-wise mean probability over the nets."""
        return _fused(net_log_probs)

    def score(self, params, x: jax.Array, label) -> jax.Array:
        """S_label(x): mean over clips of the fused log-probability of `label` (int32 [])."""
        return spec_score(self.spec, params, x, label)

    # ---------------------------------------------------------------------------------- compiled calls

    def net_probs(self, x: np.ndarray) -> np.ndarray:
        """float32 [nets, n_clips, C] clip probabilities of each net for x float32 [n_samples]."""
        return np.exp(np.asarray(_compiled(self.spec).log_probs(self.params, jnp.asarray(x, jnp.float32))))

    def saliency(self, x: np.ndarray, label: int):
        """(score [], dS/dx float32 [n_samples], attribution kind -> [F], maps kind -> [T, F]) as NumPy."""
        score, d_x, attribution, maps = _compiled(self.spec).saliency(self.params, jnp.asarray(x, jnp.float32),
                                                                       jnp.int32(label))
        return (float(score), np.asarray(d_x), {k: np.asarray(v) for k, v in attribution.items()},
                {k: np.asarray(v) for k, v in maps.items()})


class _Spec(NamedTuple):
    """What a compiled TrackModel function depends on statically (hashable)."""

    graphdefs: tuple
    net_kinds: tuple  # the kinds each net reads
    cfg: object  # dsp.FeatureConfig
    kept: int  # samples analysed (crop_length)
    starts: tuple  # clip start frames

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({k for kinds in self.net_kinds for k in kinds}))


def _maps(spec: _Spec, x):
    maps = feature_maps(x[: spec.kept], spec.cfg)
    return {k: maps[k] for k in spec.kinds}


def spec_score(spec: _Spec, params, x, label):
    """`TrackModel.score` as a function of the model's spec: what a compiled caller (PGD) differentiates."""
    return _score(spec, params, _maps(spec, x), label)


def _net_log_probs(spec: _Spec, params, maps):
    states, stats = params
    idx = np.asarray(spec.starts)[:, None] + np.arange(CLIP_FRAMES)[None, :]  # [n_clips, 128]
    out = []
    for graphdef, state, st, kinds in zip(spec.graphdefs, states, stats, spec.net_kinds):
        clips = apply_stats({k: maps[k][idx] for k in kinds}, st)
        out.append(jax.nn.log_softmax(apply_model(nnx.merge(graphdef, state), clips), axis=-1))
    return jnp.stack(out)


def _fused(net_log_probs):
    return jax.nn.logsumexp(net_log_probs, axis=0) - jnp.log(net_log_probs.shape[0])


def _score(spec: _Spec, params, maps, label):
    return _fused(_net_log_probs(spec, params, maps))[:, label].mean()


class _Compiled(NamedTuple):
    log_probs: object  # (params, x) -> [nets, n_clips, C]
    saliency: object  # (params, x, label) -> (score, dS/dx, attribution, maps)


@functools.lru_cache(maxsize=16)
def _compiled(spec: _Spec) -> _Compiled:
    def log_probs(params, x):
        return _net_log_probs(spec, params, _maps(spec, x))

    def saliency(params, x, label):
        maps, maps_vjp = jax.vjp(lambda v: _maps(spec, v), x)
        score, d_maps = jax.value_and_grad(lambda m: _score(spec, params, m, label))(maps)
        (d_x,) = maps_vjp(d_maps)
        attribution = {k: (d_maps[k] * maps[k]).sum(axis=0) for k in maps}
        return score, d_x, attribution, maps

    return _Compiled(jax.jit(log_probs), jax.jit(saliency))


def waveform_saliency(trained: Sequence, feature_cfg, x: np.ndarray, genres: Sequence[str], *,
                      label: int | None = None, fusion: str = "fusion2", max_clips: int | None = None) -> Saliency:
    """The saliency of class `label` (default: the decided class, `evaluate.decide`) for one signal x float32 [n]
    at feature_cfg.sample_rate."""
    model = TrackModel(trained, feature_cfg, x.size, max_clips=max_clips)
    if label is None:
        label = evaluate.decide(model.net_probs(x), fusion)
    score, grad, attribution, maps = model.saliency(x, label)
    return Saliency(genres[label], int(label), score, grad, attribution, maps)
