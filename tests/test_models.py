"""GenreCNN / EarlyFusionCNN: pinned parameter counts, the residual block against a NumPy reference,
both conv implementations, dropout behaviour and config validation."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mgc_jax.config import ALIGNS, FEATURE_WIDTHS, NET_KINDS, ModelConfig
from mgc_jax.data import mel
from mgc_jax.errors import ConfigError
from mgc_jax.nets.models import (
    DEFAULT_RATE,
    EarlyFusionCNN,
    GenreCNN,
    apply_model,
    build_model,
    count_params,
    global_pool,
    input_kernel,
)

# docs/features.md §3.3 at K1 = 256: conv1 4*n*256 + 256, conv2 = conv3 = 4*256*256 + 256,
# dense 512*300 + 300 + 300*150 + 150 + 150*10 + 10 (spec's "~1.25 M" and "~0.73 M").
STFT_PARAMS = 1_250_928
MUSIC_PARAMS = 733_808
EARLY_PARAMS = 1_937_776  # two residual branches (513 and 8 wide) + dense 1024 -> 300 -> 150 -> 10


def analytic_params(n_bins: tuple[int, ...], k1: int, dense=(300, 150), classes=10, kt=4) -> int:
    convs = sum(kt * n * k1 + k1 + 2 * (kt * k1 * k1 + k1) for n in n_bins)
    sizes = (2 * k1 * len(n_bins), *dense, classes)
    return convs + sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


PAPER = ModelConfig(stft_bands=0)  # the paper's architecture: net_STFT's 513 bins straight into conv1


@pytest.mark.parametrize("net,expected", [("stft", STFT_PARAMS), ("music", MUSIC_PARAMS), ("early", EARLY_PARAMS)])
def test_parameter_counts_are_pinned(net, expected):
    model = nnx.eval_shape(lambda: build_model(net, PAPER, rngs=nnx.Rngs(0)))
    assert count_params(model) == expected
    assert expected == analytic_params(tuple(FEATURE_WIDTHS[k] for k in NET_KINDS[net]), 256)


@pytest.mark.parametrize("net", ["stft", "music", "early"])
def test_stft_bands_shrink_conv1_only(net):
    """stft_bands=96: net_STFT averages its 513 bins into 96 mel bands, conv1 reads 96 inputs, nothing else moves
    (net_MUSIC has no bands); the default reads 96 bands, PAPER (stft_bands=0) is the paper's architecture."""
    model = nnx.eval_shape(lambda: build_model(net, ModelConfig(stft_bands=96), rngs=nnx.Rngs(0)))
    widths = tuple(96 if k == "stft" else FEATURE_WIDTHS[k] for k in NET_KINDS[net])
    assert count_params(model) == analytic_params(widths, 256)
    assert ModelConfig().stft_bands == 96 and ModelConfig(stft_bands=0) == PAPER


def test_stft_bands_sit_on_the_bins_of_the_feature_sample_rate():
    cfg = ModelConfig(k1=8, dense=(16,), stft_bands=24)
    at = {rate: build_model("stft", cfg, rngs=nnx.Rngs(0), sample_rate=rate) for rate in (16000, DEFAULT_RATE)}
    np.testing.assert_allclose(input_kernel(at[16000].block),
                               np.einsum("fb,tbk->tfk", mel.band_means(513, 24, 16000),
                                         np.asarray(at[16000].block.conv1.kernel[...])), rtol=1e-6)
    assert not np.allclose(mel.band_means(513, 24, 16000), mel.band_means(513, 24, DEFAULT_RATE))


def test_stft_bands_are_mel_means_before_conv1():
    cfg = ModelConfig(k1=8, dense=(16,), stft_bands=24)
    model = build_model("stft", cfg, rngs=nnx.Rngs(0))
    model.eval()
    x = jax.random.normal(jax.random.key(1), (2, 128, 513))
    w = mel.band_means(513, 24, DEFAULT_RATE)
    # The same block without bands, given the banded map and the same parameters, gives the same logits.
    plain = build_model("stft", dataclasses.replace(cfg, stft_bands=0), rngs=nnx.Rngs(0), in_bins={"stft": 24})
    nnx.update(plain, nnx.state(model, nnx.Param))
    plain.eval()
    np.testing.assert_allclose(model(x), plain(x @ jnp.asarray(w)), rtol=1e-5, atol=1e-6)
    # input_kernel: conv1 as a filter over the 513 bins, W @ kernel (the plain block's kernel unchanged).
    k = np.asarray(model.block.conv1.kernel[...])
    assert k.shape == (4, 24, 8)
    np.testing.assert_allclose(input_kernel(model.block), np.einsum("fb,tbk->tfk", w, k), rtol=1e-6)
    np.testing.assert_array_equal(input_kernel(plain.block), np.asarray(plain.block.conv1.kernel[...]))


def test_stft_bands_refused_where_they_cannot_be():
    with pytest.raises(ConfigError, match="stft_bands"):
        ModelConfig(stft_bands=-1)
    with pytest.raises(ValueError, match="covers no bin"):  # more bands than a 17-bin map allows
        build_model("stft", ModelConfig(k1=4, stft_bands=64), rngs=nnx.Rngs(0), in_bins={"stft": 17})


def test_parameter_count_follows_config():
    cfg = ModelConfig(k1=128, dense=(64,))
    model = nnx.eval_shape(lambda: build_model("music", cfg, rngs=nnx.Rngs(0)))
    assert count_params(model) == analytic_params((8,), 128, dense=(64,))


def _np_conv(x, kernel, bias):
    """Reference valid 1-D conv: x [B, T, C], kernel [kt, C, O] -> [B, T - kt + 1, O] (float64)."""
    kt = kernel.shape[0]
    t_out = x.shape[1] - kt + 1
    return sum(np.einsum("btc,co->bto", x[:, i : i + t_out], kernel[i]) for i in range(kt)) + bias


def _np_block(x, p, *, align, relu_after_add, kt=4):
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    h1 = relu(_np_conv(x, p["conv1"]["kernel"], p["conv1"]["bias"]))
    if align == "same":
        pad = lambda z: np.pad(z, ((0, 0), (1, 2), (0, 0)))  # noqa: E731 - Keras 'same' for kt = 4
        h3 = relu(_np_conv(pad(relu(_np_conv(pad(h1), p["conv2"]["kernel"], p["conv2"]["bias"]))),
                           p["conv3"]["kernel"], p["conv3"]["bias"]))
    else:
        h3 = relu(_np_conv(relu(_np_conv(h1, p["conv2"]["kernel"], p["conv2"]["bias"])),
                           p["conv3"]["kernel"], p["conv3"]["bias"]))
        before = {"center": 3, "start": 0, "end": 6}[align]
        h3 = np.pad(h3, ((0, 0), (before, 6 - before), (0, 0)))
    out = h1 + h3
    return relu(out) if relu_after_add else out


@pytest.mark.parametrize("impl", ["conv", "matmul"])
@pytest.mark.parametrize("align", ALIGNS)
@pytest.mark.parametrize("relu_after_add", [False, True])
def test_residual_block_matches_numpy_reference(impl, align, relu_after_add):
    cfg = ModelConfig(k1=6, dense=(5,), align=align, relu_after_add=relu_after_add, conv_impl=impl)
    model = GenreCNN(7, cfg, rngs=nnx.Rngs(1))
    # Random biases too, so a wrong bias broadcast or a pad of non-zeros would show.
    for conv in (model.block.conv1, model.block.conv2, model.block.conv3):
        conv.bias[...] = jax.random.normal(jax.random.key(2), conv.bias.shape)
    x = np.random.default_rng(0).standard_normal((3, 20, 7)).astype(np.float32)
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), nnx.to_pure_dict(nnx.state(model.block)))
    got = np.asarray(model.block(jnp.asarray(x)))
    want = _np_block(x.astype(np.float64), params, align=align, relu_after_add=relu_after_add)
    assert got.shape == (3, 17, 6)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # float32 sums of <= 28 products vs float64


def test_global_pool_is_max_then_mean():
    h = jnp.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(global_pool(h), np.concatenate([h.max(1), h.mean(1)], -1))


@pytest.mark.parametrize("net", ["stft", "music", "early"])
def test_conv_impls_agree(net):
    """Same seed -> identical parameters under both impls; outputs and gradients equal up to rounding."""
    # Full feature widths (the 4 x 513 kernel) but fewer filters to keep it quick.
    models = {impl: build_model(net, ModelConfig(k1=32, dense=(24,), conv_impl=impl), rngs=nnx.Rngs(0))
              for impl in ("conv", "matmul")}
    states = {k: nnx.to_pure_dict(nnx.state(m)) for k, m in models.items()}
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), states["conv"], states["matmul"]))
    rng = np.random.default_rng(0)
    # Raw-unit-like magnitudes (STFT values reach tens).
    x = {k: jnp.asarray(rng.random((4, 128, FEATURE_WIDTHS[k]), np.float32) * 30) for k in NET_KINDS[net]}
    out, grads = {}, {}
    for impl, m in models.items():
        m.eval()
        out[impl] = nnx.jit(apply_model)(m, x)
        grads[impl] = nnx.jit(nnx.grad(lambda mm: apply_model(mm, x).sum()))(m)
    # Same sums in a different order: float32 reassociation over up to 2052-term dot products.
    np.testing.assert_allclose(out["conv"], out["matmul"], rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(grads["conv"]), jax.tree.leaves(grads["matmul"])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.abs(a).max()))


def test_output_shapes_and_early_fusion_input():
    cfg = ModelConfig(k1=8, dense=(16, 12))
    stft = build_model("stft", cfg, rngs=nnx.Rngs(0))
    assert isinstance(stft, GenreCNN)
    x = jnp.ones((5, 128, 513))
    stft.eval()
    assert nnx.jit(stft)(x).shape == (5, 10)
    early = build_model("early", cfg, rngs=nnx.Rngs(0))
    assert isinstance(early, EarlyFusionCNN)
    early.eval()
    xs = {"stft": x, "music": jnp.ones((5, 128, 8))}
    fwd = nnx.jit(lambda m, x: m(x))
    logits = fwd(early, xs)
    assert logits.shape == (5, 10)
    # Both branches feed the classifier: changing either input changes the output.
    assert not np.allclose(fwd(early, {**xs, "music": xs["music"] * 3}), logits)
    assert not np.allclose(fwd(early, {**xs, "stft": xs["stft"] * 3}), logits)


def test_apply_model_routes_the_dict():
    cfg = ModelConfig(k1=4, dense=(8,))
    music = build_model("music", cfg, rngs=nnx.Rngs(0))
    music.eval()
    x = jnp.ones((2, 16, 8))
    np.testing.assert_array_equal(apply_model(music, {"music": x}), music(x))
    with pytest.raises(ValueError, match="one feature map"):
        apply_model(music, {"music": x, "stft": x})


def test_dropout_train_vs_eval():
    model = build_model("music", ModelConfig(k1=8, dense=(32, 16)), rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).random((4, 32, 8), np.float32))
    model.train()
    a = model(x, rngs=jax.random.key(1))
    np.testing.assert_array_equal(a, model(x, rngs=jax.random.key(1)))  # same key, same mask
    assert not np.allclose(a, model(x, rngs=jax.random.key(2)))
    model.eval()
    e = model(x)
    np.testing.assert_array_equal(e, model(x, rngs=jax.random.key(3)))  # eval ignores keys
    assert not np.allclose(a, e)
    no_drop = build_model("music", ModelConfig(k1=8, dense=(32, 16), dropout=0.0), rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(no_drop(x, rngs=jax.random.key(1)), e)  # rate 0 = eval (same init)


def test_keras_init_of_first_conv():
    """conv1 as Keras' Conv2D 4 x n on one channel: glorot-uniform limit sqrt(6 / (4n + 4n K1)) (n = 513, the
    paper's net_STFT; with mel bands n is the band count)."""
    model = build_model("stft", PAPER, rngs=nnx.Rngs(0))
    k = np.asarray(model.block.conv1.kernel[...])
    limit = np.sqrt(6.0 / (4 * 513 + 4 * 513 * 256))
    assert np.abs(k).max() <= limit
    assert np.abs(k).max() > 0.99 * limit  # 525k uniform draws reach the bound
    np.testing.assert_array_equal(np.asarray(model.block.conv1.bias[...]), 0.0)


@pytest.mark.parametrize("field,value", [("k1", 0), ("align", "middle"), ("dropout", 1.0), ("dropout_at", ("conv",)),
                                         ("init", "he"), ("conv_impl", "fft"), ("num_classes", 1)])
def test_model_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"ModelConfig.{field}="):
        ModelConfig(**{field: value})


def test_model_config_dict_round_trip_and_hashable():
    cfg = ModelConfig(k1=128, dense=(64, 32), dropout_at=("pool", "dense"))
    d = cfg.to_dict()
    assert d["dense"] == [64, 32]  # JSON-ready
    assert ModelConfig.from_dict(d) == cfg
    assert hash(ModelConfig.from_dict(d)) == hash(cfg)
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**d, "filters": 3})


def test_build_model_rejects_unknown_net():
    with pytest.raises(ValueError, match="net='cqt'"):
        build_model("cqt", rngs=nnx.Rngs(0))
