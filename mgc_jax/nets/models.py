"""The residual CNNs of Senac et al. 2017 (net_STFT, net_MUSIC) and an early-fusion net, in Flax NNX.

A clip [B, 128, n] goes through conv1 (4 x n) -> conv2 -> conv3 (4 x 1) with a shortcut from conv1, max and
mean pooling over time, and dense layers to logits (docs/features.md §3.3); each 4 x n convolution is stored
as a 1-D kernel [4, n, K1]. Every choice the paper leaves open is a `ModelConfig` field.
"""
from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dsp.config import FeatureConfig
from mgc_jax.config import FEATURE_WIDTHS, NET_KINDS, ModelConfig
from mgc_jax.data.mel import band_means

DEFAULT_RATE = FeatureConfig().sample_rate  # runs saved without a feature config were made at this rate

def _kernel_init(cfg: ModelConfig, *, receptive: int | None = None):
    """Initializer for a `[kt, in, out]` conv kernel or `[in, out]` dense kernel.

    receptive: for the first conv under "keras", the size of the 2-D kernel (kt · n) that Keras' Conv2D on a
      one-channel image would see, so fan_in = kt·n and fan_out = kt·n·K1 (the 1-D view would give kt·K1).
    """
    if cfg.init == "flax":
        return nnx.initializers.lecun_normal()
    if receptive is None:
        return nnx.initializers.glorot_uniform()

    def init(key, shape, dtype=jnp.float32):
        kt, n, k = shape
        # Keras Conv2D kernel (kt, n, 1, K): fans = receptive field × channels.
        limit = np.sqrt(6.0 / (kt * n * 1 + kt * n * k))
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    return init


class PatchConv(nnx.Module):
    """Width-kt 1-D convolution as patch gather + one matmul: `[B, T, in] -> [B, T - kt + 1, out]`.

    Same parameters as `nnx.Conv(in, out, (kt,), padding="VALID")`: `kernel` float32 [kt, in, out] and
    `bias` float32 [out], with y[b, t] = sum_{i, c} x[b, t + i, c] kernel[i, c] + bias.
    """

    def __init__(self, in_features: int, out_features: int, *, kernel_t: int, kernel_init, rngs: nnx.Rngs):
        self.kernel_t = kernel_t
        self.kernel = nnx.Param(kernel_init(rngs.params(), (kernel_t, in_features, out_features)))
        # Draw a (unused) bias key as nnx.Conv does, so both conv_impls initialise identically from one seed.
        self.bias = nnx.Param(nnx.initializers.zeros(rngs.params(), (out_features,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        kt = self.kernel_t
        t_out = x.shape[-2] - kt + 1
        # [B, T', kt·in]: frame t+i's features occupy columns i·in ... (i+1)·in - 1, matching kernel.reshape.
        patches = jnp.concatenate([x[..., i : i + t_out, :] for i in range(kt)], axis=-1)
        w = self.kernel[...].reshape(-1, self.kernel.shape[-1])
        return patches @ w + self.bias[...]


def _conv(in_features: int, out_features: int, cfg: ModelConfig, *, receptive=None, rngs: nnx.Rngs):
    init = _kernel_init(cfg, receptive=receptive)
    if cfg.conv_impl == "conv":
        return nnx.Conv(in_features, out_features, (cfg.kernel_t,), padding="VALID", kernel_init=init, rngs=rngs)
    return PatchConv(in_features, out_features, kernel_t=cfg.kernel_t, kernel_init=init, rngs=rngs)


class ResidualBlock(nnx.Module):
    """conv1 (kt × n) -> conv2 -> conv3 (kt × 1) with a shortcut from conv1's output to conv3's.

    `[B, T, n] -> [B, T - kt + 1, K1]` (no ReLU after the add unless cfg.relu_after_add).
    """

    def __init__(self, in_bins: int, cfg: ModelConfig, *, rngs: nnx.Rngs, bands: int = 0,
                 sample_rate: int = DEFAULT_RATE):
        # bands > 0: x is first averaged into that many mel bands (a constant matrix, rebuilt when traced) laid on
        # the STFT bins of audio at sample_rate (the run's dsp.FeatureConfig.sample_rate).
        self.in_bins, self.bands, self.sample_rate = in_bins, bands, sample_rate
        if bands:
            band_means(in_bins, bands, sample_rate)  # refuses, at build time, more bands than the bins allow
            in_bins = bands
        self.align = cfg.align
        self.kernel_t = cfg.kernel_t
        self.relu_after_add = cfg.relu_after_add
        receptive = cfg.kernel_t * in_bins if cfg.init == "keras" else None
        self.conv1 = _conv(in_bins, cfg.k1, cfg, receptive=receptive, rngs=rngs)
        self.conv2 = _conv(cfg.k1, cfg.k1, cfg, rngs=rngs)
        self.conv3 = _conv(cfg.k1, cfg.k1, cfg, rngs=rngs)

    def _same_pad(self, h: jax.Array) -> jax.Array:
        # Keras/XLA 'same' for an even kernel: (kt - 1) // 2 zeros before, the rest after.
        before = (self.kernel_t - 1) // 2
        return jnp.pad(h, ((0, 0), (before, self.kernel_t - 1 - before), (0, 0)))

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.bands:
            x = x @ jnp.asarray(band_means(self.in_bins, self.bands, self.sample_rate))
        h1 = jax.nn.relu(self.conv1(x))
        if self.align == "same":
            h3 = jax.nn.relu(self.conv3(self._same_pad(jax.nn.relu(self.conv2(self._same_pad(h1))))))
        else:
            h3 = jax.nn.relu(self.conv3(jax.nn.relu(self.conv2(h1))))
            missing = h1.shape[-2] - h3.shape[-2]  # 2 (kt - 1) frames
            before = {"center": missing // 2, "start": 0, "end": missing}[self.align]
            h3 = jnp.pad(h3, ((0, 0), (before, missing - before), (0, 0)))
        out = h1 + h3
        return jax.nn.relu(out) if self.relu_after_add else out


def input_kernel(block: ResidualBlock) -> np.ndarray:
    """conv1's kernel over the block's input bins: float32 [kt, in_bins, K1] (with bands, W @ kernel, the filter
    that conv1 applies to the unbanded map; without, the kernel itself)."""
    kernel = np.asarray(block.conv1.kernel[...])
    if not block.bands:
        return kernel
    return np.einsum("fb,tbk->tfk", band_means(block.in_bins, block.bands, block.sample_rate), kernel)


def global_pool(h: jax.Array) -> jax.Array:
    """Global temporal max and mean pooling, concatenated: float32 [B, T, K] -> [B, 2K] (max first)."""
    return jnp.concatenate([h.max(axis=-2), h.mean(axis=-2)], axis=-1)


class ClassHead(nnx.Module):
    """Dense ReLU layers (cfg.dense) with dropout, then the output layer: float32 [B, D] -> logits [B, C]."""

    def __init__(self, in_features: int, cfg: ModelConfig, *, rngs: nnx.Rngs):
        sizes = (in_features, *cfg.dense)
        init = _kernel_init(cfg)
        self.hidden = nnx.List(
            [nnx.Linear(a, b, kernel_init=init, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])]
        )
        self.out = nnx.Linear(sizes[-1], cfg.num_classes, kernel_init=init, rngs=rngs)
        self.dropout_at = cfg.dropout_at
        # Dropout draws its mask from a key passed at call time (see GenreCNN.__call__), so the model holds
        # no RNG state and the run's randomness is a function of (seed, epoch, step).
        self.dropout = nnx.Dropout(cfg.dropout)

    def __call__(self, h: jax.Array, *, rngs: jax.Array | None = None) -> jax.Array:
        keys = iter(jax.random.split(rngs, len(self.hidden) + 1)) if rngs is not None else None

        def drop(z):
            return self.dropout(z, rngs=next(keys) if keys is not None else None)

        if "pool" in self.dropout_at:
            h = drop(h)
        for layer in self.hidden:
            h = jax.nn.relu(layer(h))
            if "dense" in self.dropout_at:
                h = drop(h)
        return self.out(h)


class GenreCNN(nnx.Module):
    """net_STFT (in_bins = 513) or net_MUSIC (in_bins = 8): float32 [B, 128, in_bins] -> logits [B, C]."""

    def __init__(self, in_bins: int, cfg: ModelConfig = ModelConfig(), *, rngs: nnx.Rngs, bands: int = 0,
                 sample_rate: int = DEFAULT_RATE):
        self.block = ResidualBlock(in_bins, cfg, rngs=rngs, bands=bands, sample_rate=sample_rate)
        self.head = ClassHead(2 * cfg.k1, cfg, rngs=rngs)

    def __call__(self, x: jax.Array, *, rngs: jax.Array | None = None) -> jax.Array:
        """x: float32 [B, T, in_bins]; rngs: dropout key, needed in train mode only. Returns logits [B, C]."""
        return self.head(global_pool(self.block(x)), rngs=rngs)


class EarlyFusionCNN(nnx.Module):
    """One residual branch per feature map; pooled vectors concatenated before one shared classifier.

    Input dict {"stft": float32 [B, T, 513], "music": float32 [B, T, 8]} -> logits [B, C]. The pooled
    vectors are concatenated in NET_KINDS["early"] order (stft, then music): [B, 4 K1].
    """

    def __init__(self, cfg: ModelConfig = ModelConfig(), *, rngs: nnx.Rngs, in_bins: Mapping[str, int] | None = None,
                 sample_rate: int = DEFAULT_RATE):
        widths = dict(FEATURE_WIDTHS, **(in_bins or {}))
        self.kinds = NET_KINDS["early"]
        self.branches = nnx.Dict({k: ResidualBlock(widths[k], cfg, rngs=rngs, bands=_bands(k, cfg), sample_rate=sample_rate)
                                  for k in self.kinds})
        self.head = ClassHead(2 * cfg.k1 * len(self.kinds), cfg, rngs=rngs)

    def __call__(self, x: Mapping[str, jax.Array], *, rngs: jax.Array | None = None) -> jax.Array:
        pooled = [global_pool(self.branches[k](x[k])) for k in self.kinds]
        return self.head(jnp.concatenate(pooled, axis=-1), rngs=rngs)


def build_model(net: str, cfg: ModelConfig = ModelConfig(), *, rngs: nnx.Rngs,
                in_bins: Mapping[str, int] | None = None, sample_rate: int = DEFAULT_RATE) -> nnx.Module:
    """The model for `net` in NET_KINDS ("stft", "music" or "early"); in_bins overrides FEATURE_WIDTHS;
    sample_rate is the rate of the audio the STFT map was made from (where mel bands sit on its bins)."""
    if net not in NET_KINDS:
        raise ValueError(f"net={net!r}: expected one of {sorted(NET_KINDS)}")
    widths = dict(FEATURE_WIDTHS, **(in_bins or {}))
    if net == "early":
        return EarlyFusionCNN(cfg, rngs=rngs, in_bins=widths, sample_rate=sample_rate)
    return GenreCNN(widths[net], cfg, rngs=rngs, bands=_bands(net, cfg), sample_rate=sample_rate)


def _bands(kind: str, cfg: ModelConfig) -> int:
    return cfg.stft_bands if kind == "stft" else 0


def apply_model(model: nnx.Module, x: Mapping[str, jax.Array], *, rngs: jax.Array | None = None) -> jax.Array:
    """Logits [B, C] from a dict of feature maps {kind: float32 [B, T, F]} holding the net's kinds.

    EarlyFusionCNN takes the dict; GenreCNN takes its one map (the dict must then hold exactly one).
    """
    if isinstance(model, EarlyFusionCNN):
        return model(x, rngs=rngs)
    if len(x) != 1:
        raise ValueError(f"GenreCNN takes one feature map, got {sorted(x)}")
    (only,) = x.values()
    return model(only, rngs=rngs)


def count_params(model: nnx.Module) -> int:
    """Number of trainable scalars (nnx.Param leaves)."""
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
