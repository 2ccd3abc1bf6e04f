"""The configuration of a training run, without JAX: run identity (`RunId`), the nets' hyper-parameters
(`ModelConfig`), one run's training settings (`TrainConfig`) and the facts they are checked against. Every
check raises `ConfigError` "<Class>.<field>=<value>: <why>", the field names being the `launch` flag names.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.util
import math
import numbers
import pathlib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from mgc_jax.errors import ConfigError

# "filtered": the fault-filtered GTZAN split; "manifest": a manifest's own split column. Each is one fixed split.
SPLITS = ("stratified", "filtered", "artist", "manifest")
ONE_FOLD_SPLITS = ("filtered", "manifest")
STFT_TRANSFORMS = ("none", "log1p", "db")  # TrainConfig.stft_transform (mgc_jax/nets/input_transform.py)
SELECTS = ("last", "best_valid")  # TrainConfig.select: the epoch that is tested and served
N_FOLDS = 10  # default folds of the stratified and artist splits (`n_folds` changes it, e.g. for small corpora)

NET_KINDS: dict[str, tuple[str, ...]] = {"stft": ("stft",), "music": ("music",), "early": ("stft", "music")}
"""Feature maps each net reads, in the order the early-fusion net concatenates its pooled vectors."""
NETS = tuple(NET_KINDS)

MUSIC_WIDTH = 8  # = len(dsp.FEATURE_NAMES) (tests/test_config.py checks it; dsp imports JAX)
FEATURE_WIDTHS: dict[str, int] = {"stft": 513, "music": MUSIC_WIDTH}
"""Width F of each feature map [T, F] under the default dsp.FeatureConfig (stft: n_bins = 1024 // 2 + 1)."""

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("exponential", "cosine")
ALIGNS = ("center", "start", "end", "same")
CONV_IMPLS = ("matmul", "conv")
INITS = ("keras", "flax")
DROPOUT_SITES = ("pool", "dense")
# Where the training clips' feature maps come from: the on-disk cache, or computed from the audio inside the
# training step (mgc_jax.train.online). AUGMENTS: audio-domain augmentations of the online step (mgc_jax.data.augment).
FEATURE_SOURCES = ("cached", "online")
AUGMENTS = ("gain", "noise", "shift")
# Where the training clips start (mgc_jax.data.clips.train_starts): "grid" = the paper's fixed windows every CLIP_HOP
# frames; "random" = each window moved by a fresh random offset every epoch (same clip count, new crops).
CROPS = ("grid", "random")
# TrainConfig.mixup=None means the net's own value: with random crops, mixup lifted net_MUSIC on real music (58 ->
# 74 % on gtzan_mini, seed 0; 68-74 % over seeds 0-2) but cost net_STFT (64 -> 56 %) (benchmarks/real_music.md).
NET_MIXUP = {"music": 0.4, "stft": 0.0, "early": 0.0}
# TrainConfig.crops=None likewise: random crops lifted net_MUSIC (58 -> 68 % alone) but not net_STFT (3 folds).
NET_CROPS = {"music": "random", "stft": "grid", "early": "grid"}
# Clips per track (mgc_jax.data.clips spreads them over the whole track, never the first ones alone):
PAPER_CLIPS = 18  # the paper's 18 clips of a 30 s track (§4.3): its first 18 of 19 grid windows
TRAIN_CLIPS = 18  # training clips per track and epoch at most: an epoch costs the same for 30 s or 2 h tracks
EVAL_CLIPS = 128  # evaluation clips per track at most: every window up to 3.2 minutes, evenly spread beyond


def _count(n) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 1


def split_folds(split: str, n_folds: int = N_FOLDS) -> tuple[int, ...]:
    """The folds a split has: (0,) for the filtered and manifest splits (one train/valid/test split each),
    0..n_folds-1 otherwise.

    The one home of the rule "a one-split split => fold 0 only".
    """
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}: expected one of {', '.join(SPLITS)}")
    return (0,) if split in ONE_FOLD_SPLITS else tuple(range(n_folds))


def check_folds(split: str, folds: Iterable[int], n_folds: int = N_FOLDS) -> tuple[int, ...]:
    """`folds` as a tuple if the split has every one of them, else a ConfigError naming the split's folds."""
    folds, have = tuple(folds), split_folds(split, n_folds)
    bad = [f for f in folds if f not in have]
    if bad:
        if split in ONE_FOLD_SPLITS:
            raise ConfigError(f"the {split} split has one train/valid/test split (fold 0), not folds {list(folds)}")
        raise ConfigError(f"fold {bad[0]!r} out of range: the {split} split has folds 0..{have[-1]}")
    return folds


def split_dir_name(split: str, n_folds: int = N_FOLDS) -> str:
    """The split's component of run and results paths: the split's name, "<split>-<n>folds" when it has
    n_folds != N_FOLDS folds (so the run directories of 10-fold splits keep their names). The split files
    (`folds.get_split`) follow the same rule."""
    return split if n_folds == N_FOLDS or split in ONE_FOLD_SPLITS else f"{split}-{n_folds}folds"


def feature_width(kind: str, feature_cfg) -> int:
    """Width F of map `kind` under a dsp.FeatureConfig ("stft": feature_cfg.n_bins, "music": 8)."""
    if kind not in FEATURE_WIDTHS:
        raise ConfigError(f"unknown feature kind {kind!r}; expected one of {', '.join(FEATURE_WIDTHS)}")
    return feature_cfg.n_bins if kind == "stft" else MUSIC_WIDTH


def feature_widths(feature_cfg) -> dict[str, int]:
    """{kind: F} of the feature maps a dsp.FeatureConfig produces: stft n_bins (513), music 8."""
    return {k: feature_width(k, feature_cfg) for k in FEATURE_WIDTHS}


# ------------------------------------------------------------------------------- check and round trip


MAX_INT32 = 2**31 - 1  # counts (epochs, batch sizes, layer widths) live in int32 arrays and checkpoints
MAX_SEED = 2**63 - 1


def _int_rule(v, lo: int, hi: int) -> tuple[bool, str]:
    """(ok, why) of "v is an int (not a bool) in lo..hi", why naming the bound it breaks."""
    if not isinstance(v, numbers.Integral) or isinstance(v, bool):
        return False, f"must be an int in {lo}..{hi}"
    return lo <= v <= hi, f"must be >= {lo}" if v < lo else f"must be <= {hi}"


def _real(v) -> bool:
    """v is a real number (not a bool); NaN fails every comparison that follows it, so ranges refuse it."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check(obj, checks: Iterable[tuple[str, bool, str]]) -> None:
    """Raise ConfigError "<Class>.<field>=<value>: <why>" for the first (field, ok, why) with ok False."""
    for name, ok, why in checks:
        if not ok:
            raise ConfigError(f"{type(obj).__name__}.{name}={getattr(obj, name)!r}: {why}")


def to_dict(obj) -> dict:
    """JSON-able dict of a config dataclass: nested configs as dicts, tuples as lists."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = to_dict(v) if dataclasses.is_dataclass(v) else list(v) if isinstance(v, tuple) else v
    return out


def from_dict(cls, d: Mapping):
    """`cls(**d)` after refusing unknown fields (ConfigError); nested configs are built by `cls` itself."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{cls.__name__}: expected a mapping of fields, got {type(d).__name__}")
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields {unknown}")
    return cls(**d)


class _DictMixin:
    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping):
        return from_dict(cls, d)


# -------------------------------------------------------------------------------------------- configs


class RunId(NamedTuple):
    """Which run: net ("stft" | "music" | "early"), fold (in `split_folds(split, n_folds)`), split and the
    split's fold count (N_FOLDS unless a small corpus needs fewer; one-fold splits keep N_FOLDS)."""

    net: str
    fold: int
    split: str = "stratified"
    n_folds: int = N_FOLDS

    def checked(self) -> "RunId":
        """self, or a ConfigError "RunId.<field>=...: why" (the messages TrainConfig gives for the same fields)."""
        check_run_id(self, "RunId")
        return self


MIN_FOLDS = 3  # a test, a validation and a training block
MAX_FOLDS = 1000  # beyond any corpus's tracks per class; bounds the fold lists made from a count
N_FOLDS_RULE = f"expected an int >= {MIN_FOLDS} and <= {MAX_FOLDS} (a test, a validation and a training block)"


def n_folds_ok(n_folds) -> bool:
    """Whether a fold count can be split into test, validation and training blocks (and is not absurd)."""
    return isinstance(n_folds, int) and not isinstance(n_folds, bool) and MIN_FOLDS <= n_folds <= MAX_FOLDS


def check_run_id(run, owner: str) -> None:
    """The identity checks of a RunId or a TrainConfig (`owner` names the class in the message)."""
    n_ok = n_folds_ok(run.n_folds)
    for name, ok, why in [
        ("net", run.net in NET_KINDS, f"expected one of {sorted(NET_KINDS)}"),
        ("split", run.split in SPLITS, f"expected one of {SPLITS}"),
        ("n_folds", n_ok, N_FOLDS_RULE),
        ("n_folds", run.split not in ONE_FOLD_SPLITS or run.n_folds == N_FOLDS,
         f"the {run.split} split has one fixed train/valid/test split: leave n_folds at {N_FOLDS}"),
        ("fold", isinstance(run.fold, int) and 0 <= run.fold < run.n_folds, f"expected 0..{run.n_folds - 1}"),
        ("fold", not n_ok or run.split not in SPLITS or run.fold in split_folds(run.split, run.n_folds),
         f"the {run.split} split has a single fold: use 0"),
    ]:
        if not ok:
            raise ConfigError(f"{owner}.{name}={getattr(run, name)!r}: {why}")


@dataclasses.dataclass(frozen=True)
class ModelConfig(_DictMixin):
    """Hyper-parameters of GenreCNN / EarlyFusionCNN (defaults: docs/features.md §3.3 decisions)."""

    k1: int = 256  # filters in each of conv1..conv3 [UNCONF; 128 is the alternative]; equal so the shortcut adds
    kernel_t: int = 4  # temporal kernel height of all three convs (paper: 4 × n, then 4 × 1)
    # How conv3's shorter output meets conv1's at the shortcut: "center" zero-pads (kt-1) frames on each side
    # (3 + 3, the decision), "start"/"end" put all 2(kt-1) zeros after/before it, "same" instead gives conv2
    # and conv3 'same' padding (Keras convention: 1 before, 2 after for kt = 4) so no padding is needed.
    align: str = "center"
    relu_after_add: bool = False  # paper lists ReLU for conv layers only; conv3 already has one
    dropout: float = 0.2  # dropout rate (paper)
    dropout_at: tuple[str, ...] = ("dense",)  # "dense": after each hidden dense layer (decision); "pool": after pooling
    dense: tuple[int, ...] = (300, 150)  # hidden dense sizes (paper)
    num_classes: int = 10  # the corpus's class count: `mgc_jax.train.loop.run` sets it from `Corpus.classes`
    # "keras": glorot-uniform kernels as Keras' Conv2D/Dense compute them (conv1 as a 4 × n kernel on one
    # channel: fan_in 4n, fan_out 4n·K1), zero biases, i.e. what the paper's Keras/Theano run most likely
    # used; "flax": lecun-normal on the 1-D view (Flax defaults).
    init: str = "keras"
    # net_STFT's map averaged into this many mel bands before conv1 (mgc_jax.nets.models); 0 = the paper's 513 bins
    # straight into conv1 (--paper). 96: as accurate on gtzan_mini (two seeds), part of the best system on
    # emotify_dev (benchmarks/real_music.md "Issue 25"), and a net_STFT fold takes ~0.6x the time, which the
    # 60-minute bound for a 300-track 5-fold CV needs.
    stft_bands: int = 96
    conv_impl: str = "conv"  # "conv" (nnx.Conv; fastest here, see benchmarks/train_speed.py) or "matmul" (patch gather + matmul)

    def __post_init__(self):
        # JSON round trips give lists; keep the config hashable.
        object.__setattr__(self, "dense", tuple(int(d) for d in self.dense))
        object.__setattr__(self, "dropout_at", tuple(self.dropout_at))
        check(self, [
            ("k1", *_int_rule(self.k1, 1, MAX_INT32)),
            ("kernel_t", *_int_rule(self.kernel_t, 1, MAX_INT32)),
            ("align", self.align in ALIGNS, f"expected one of {ALIGNS}"),
            ("dropout", _real(self.dropout) and 0.0 <= self.dropout < 1.0, "must be in [0, 1)"),
            ("dropout_at", set(self.dropout_at) <= set(DROPOUT_SITES), f"entries must be in {DROPOUT_SITES}"),
            ("dense", all(_int_rule(d, 1, MAX_INT32)[0] for d in self.dense), f"sizes must be ints in 1..{MAX_INT32}"),
            ("num_classes", *_int_rule(self.num_classes, 2, MAX_INT32)),
            ("init", self.init in INITS, f"expected one of {INITS}"),
            ("conv_impl", self.conv_impl in CONV_IMPLS, f"expected one of {CONV_IMPLS}"),
            ("stft_bands", isinstance(self.stft_bands, int) and self.stft_bands >= 0,
             "must be an int >= 0 (0 = no bands)"),
        ])


@dataclasses.dataclass(frozen=True)
class TrainConfig(_DictMixin):
    """One training run: its identity (net, fold, split) and hyper-parameters (the paper's: `PAPER_HPARAMS`, `--paper`).

    net, fold, split, n_folds are the run's identity (`run_id`); the other fields are its hyper-parameters
    (`hparams`). config.json keeps all of them flat, as `to_dict` gives them.
    """

    net: str  # "stft" | "music" | "early"
    fold: int  # 0..9 (must be 0 for split="filtered" / "manifest")
    split: str = "stratified"  # "stratified" | "filtered" | "artist" | "manifest"
    n_folds: int = N_FOLDS  # folds of a stratified / artist split (3..; N_FOLDS for the one-split splits)
    epochs: int = 20  # paper: 40; on real music the nets fit their training tracks within ~10 (real_music.md)
    batch_size: int = 20  # clips per training step over all devices (paper: 20; see mgc_jax.train.loop "Devices")
    learning_rate: float = 1e-3  # of epoch 1; epoch e trains at learning_rate * lr_decay ** (e - 1)
    # Per-epoch factor (1.0 = constant, as Keras' Adam of 2017 ran; the paper names no schedule). Constant scored
    # as well or better on real music (benchmarks/real_music.md); 0.9 was chosen on the synthetic corpus.
    lr_decay: float = 1.0
    # "cosine": learning_rate * (1 + cos(pi * (e - 1) / epochs)) / 2, from learning_rate at epoch 1 to ~0 at the
    # last (decided on real music, issue 25: WORKSPACE.md "Real music that is not GTZAN") | "exponential": the
    # lr_decay rule above (the paper names no schedule: --paper trains at a constant rate)
    lr_schedule: str = "cosine"
    optimizer: str = "adam"  # "adam" (beta 0.9/0.999, eps 1e-8: Keras' defaults of 2017) | "sgd" (momentum below)
    momentum: float = 0.9  # SGD momentum (unused by Adam)
    seed: int = 0  # model init, batch order and dropout
    # Defaults decided on real music (benchmarks/real_music.md, WORKSPACE.md "Defaults"); the paper's settings
    # are --nostandardize --stft_transform=none --select=best_valid --crops=grid --mixup=0 (--paper).
    standardize: bool = True  # per-feature mean/std of the training fold (paper: raw units)
    stft_transform: str = "log1p"  # STFT map before standardisation: "none" (paper: linear |rfft|) | "log1p" | "db"
    select: str = "last"  # epoch that tests and serves: "last" | "best_valid" (paper: best on validation)
    model: ModelConfig = ModelConfig()
    eval_batch_size: int = 100  # clips per validation/test forward pass (memory only; rounded up to the devices)
    keep_last: int = 2  # latest checkpoints kept besides the best
    features: str = "cached"  # "cached" (maps from the feature cache) | "online" (computed in the step: mgc_jax.train.online)
    augment: tuple[str, ...] = ()  # audio augmentations of the online step, applied in AUGMENTS order (mgc_jax.data.augment)
    # Regularisers decided on real music (benchmarks/real_music.md: net_MUSIC 58 -> 74 % on gtzan_mini with both):
    # Training clip starts: "random" (mgc_jax.data.clips.train_starts) | "grid" (paper) | None = NET_CROPS[net].
    crops: str | None = None
    # Whole tracks (mgc_jax.data.clips): clips per track and epoch at most, spread over the whole track (random
    # crops: drawn anew every epoch); evaluation clips per track at most, evenly spread (paper: 18 and 18).
    train_clips: int = TRAIN_CLIPS
    eval_clips: int = EVAL_CLIPS
    # Beta(mixup, mixup) mixing of training clip pairs and labels (mgc_jax.train.steps.mix_batch); 0 = off (paper);
    # None = the net's value, NET_MIXUP (`mixup_alpha` resolves it; None is kept so `for_run` stays per net).
    mixup: float | None = None

    def __post_init__(self):
        if isinstance(self.model, Mapping):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
        object.__setattr__(self, "augment", tuple(self.augment))  # JSON gives a list; keep it hashable
        check_run_id(self, "TrainConfig")
        check(self, [
            ("epochs", *_int_rule(self.epochs, 1, MAX_INT32)),
            ("batch_size", *_int_rule(self.batch_size, 1, MAX_INT32)),
            ("learning_rate", _real(self.learning_rate) and 0 < self.learning_rate < math.inf,
             "must be a finite number > 0"),
            ("lr_decay", _real(self.lr_decay) and 0 < self.lr_decay <= 1, "must be in (0, 1]"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"expected one of {LR_SCHEDULES}"),
            ("momentum", _real(self.momentum) and 0 <= self.momentum < 1, "must be in [0, 1)"),
            # jax.random.key takes int64 seeds, numpy's generators non-negative ones.
            ("seed", *_int_rule(self.seed, 0, MAX_SEED)),
            ("optimizer", self.optimizer in OPTIMIZERS, f"expected one of {OPTIMIZERS}"),
            ("stft_transform", self.stft_transform in STFT_TRANSFORMS, f"expected one of {STFT_TRANSFORMS}"),
            ("select", self.select in SELECTS, f"expected one of {SELECTS}"),
            ("eval_batch_size", *_int_rule(self.eval_batch_size, 1, MAX_INT32)),
            ("keep_last", *_int_rule(self.keep_last, 1, MAX_INT32)),
            ("features", self.features in FEATURE_SOURCES, f"expected one of {FEATURE_SOURCES}"),
            ("augment", set(self.augment) <= set(AUGMENTS), f"entries must be in {AUGMENTS}"),
            ("augment", len(set(self.augment)) == len(self.augment), "names an augmentation twice"),
            ("augment", not self.augment or self.features == "online",
             "augmentation acts on the audio: it needs features='online'"),
            ("train_clips", _count(self.train_clips), "must be an int >= 1"),
            ("eval_clips", _count(self.eval_clips), "must be an int >= 1"),
            ("crops", self.crops is None or self.crops in CROPS, f"expected one of {CROPS}, or None for the net's"),
            ("mixup", self.mixup is None or (isinstance(self.mixup, (int, float)) and 0.0 <= self.mixup <= 10.0),
             "must be in [0, 10] (0 = off), or None for the net's value"),
        ])

    @property
    def kinds(self) -> tuple[str, ...]:
        return NET_KINDS[self.net]

    @property
    def crop_mode(self) -> str:
        """Where this run's training clips start: `crops`, or NET_CROPS[net] when it is None."""
        return NET_CROPS[self.net] if self.crops is None else self.crops

    @property
    def mixup_alpha(self) -> float:
        """The mixup Beta parameter this run trains with: `mixup`, or NET_MIXUP[net] when it is None."""
        return float(NET_MIXUP[self.net] if self.mixup is None else self.mixup)

    @property
    def run_id(self) -> RunId:
        return RunId(self.net, self.fold, self.split, self.n_folds)

    @property
    def hparams(self) -> dict:
        """The hyper-parameters: every field but the run identity (JSON-able)."""
        return {k: v for k, v in self.to_dict().items() if k not in RunId._fields}

    def for_run(self, net: str, fold: int) -> "TrainConfig":
        """The same hyper-parameters and split for another (net, fold)."""
        return dataclasses.replace(self, net=net, fold=fold)

    def for_classes(self, n_classes: int) -> "TrainConfig":
        """The same run with a model head of `n_classes` outputs (a corpus's class count)."""
        return dataclasses.replace(self, model=dataclasses.replace(self.model, num_classes=n_classes))


# The paper's settings where the defaults differ (the defaults were decided on real music: WORKSPACE.md
# "Defaults on real music"); `--paper` in the launchers, `paper_config` in the library.
PAPER_HPARAMS = {"standardize": False, "stft_transform": "none", "select": "best_valid", "epochs": 40,
                 "lr_schedule": "exponential", "crops": "grid", "mixup": 0.0, "train_clips": PAPER_CLIPS,
                 "eval_clips": PAPER_CLIPS}
PAPER_MODEL = {"stft_bands": 0}  # ModelConfig fields: net_STFT's 513 bins straight into conv1


def paper_config(net: str, fold: int, **overrides) -> TrainConfig:
    """TrainConfig with the paper's settings (raw units, linear STFT map, best epoch on validation, 40 epochs,
    the 513 STFT bins into conv1); a `model` override replaces the paper's ModelConfig."""
    model = overrides.pop("model", ModelConfig(**PAPER_MODEL))
    return TrainConfig(net=net, fold=fold, model=model, **{**PAPER_HPARAMS, **overrides})


def train_fields() -> dict[str, dataclasses.Field]:
    """name -> dataclass field of TrainConfig and ModelConfig (the flags of launch/train_flags.py)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "model"}
    fields.update({f.name: f for f in dataclasses.fields(ModelConfig)})
    return fields


@functools.lru_cache(maxsize=4)
def dsp_code_hash(package_dir: str | pathlib.Path | None = None) -> str:
    """12-hex-digit hash of what the dsp package's code does: with `FeatureConfig.hash()` it names what made a
    feature map (feature caches and run configs record both).

    Each dsp/*.py (of `package_dir`, default the dsp package) is parsed and hashed as its syntax tree without line
    numbers, docstrings or other bare string statements (comments never reach the tree), so an edit to a
    comment, a docstring or the layout keeps the hash, while any change to code (a constant, an operator, a
    renamed variable) changes it. A Python upgrade that changes the tree's form changes it too (then the maps
    are extracted again: a cost, never a wrong map).
    """
    if package_dir is None:  # found, not imported: importing dsp would import JAX (module docstring)
        package_dir = importlib.util.find_spec("dsp").submodule_search_locations[0]
    directory = pathlib.Path(package_dir)
    h = hashlib.sha256()
    for path in sorted(directory.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list):
                kept = [b for b in body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)
                                                and isinstance(b.value.value, str))]
                node.body = kept or [ast.Pass()]
        h.update(path.name.encode() + b"\0" + ast.dump(tree, include_attributes=False).encode() + b"\0")
    return h.hexdigest()[:12]
