"""mgc_jax: music genre classification with MIRToolbox feature maps and residual CNNs (Senac et al. 2017).

Modules (import them directly; this package init stays light so `import mgc_jax` does not start JAX):
  errors        AudioError, DataError, ConfigError: one sentence naming the file (or field) and the cause
  config        TrainConfig, ModelConfig, RunId; split names and folds, net kinds, feature widths (no JAX)
  audio         load any audio file as float32 mono at 22,050 Hz
  datasets      corpus sources (GTZAN, labelled folders, CSV manifests), folds and splits, the synthetic corpus
  workdir       the workdir layout (corpora, features, splits, runs, results), atomic writes
  rundir        the run-directory files: config.json, metrics.jsonl, test_probs.npz, result.json
  cache         the per-track feature cache: layout and reader (FeatureCache)
  extraction    batched, resumable feature extraction into the cache, sharded over devices and processes
  corpus        corpus preparation: synthetic on first use, discovery, extraction
  clips         3 s clip windows into memory-mapped feature maps, shuffled batches
  standardize   per-feature mean/std of a training fold
  input_transform  the STFT map's compression before standardisation (TrainConfig.stft_transform: log1p, db)
  models        GenreCNN (net_STFT, net_MUSIC), the early-fusion net and their dense ClassHead (Flax NNX)
  steps         loss, optimizer and the compiled train / predict steps (one device, split state, sharded)
  online        features computed from the audio inside the training step (TrainConfig.features="online")
  augment       audio augmentations of the online step: random gain, white noise at a random SNR, time shift
  train         the resumable training loop of one run (train.run)
  checkpoint    orbax save / restore (always against an abstract state)
  evaluate      majority vote, FUSION1, FUSION2, confusion matrices, bootstrap CIs
  baseline      the non-neural system: MFCC + music-feature statistics per track -> RBF SVM (scikit-learn)
  crossval      train the missing runs, evaluate every system of Table 2
  reports       Table 2, Table 1, results.json and confusion figures
  paper         the paper's reported numbers
  figures       the notebooks' figures
  notebook_setup  the shared first cell of notebooks/: working folder, environment variables, figure output
  inference     load_trained -> Trained; Classifier.from_checkpoint(...).predict(path_or_array) / .saliency(...)
  saliency      the pipeline waveform -> fused clip log-probabilities as one differentiable function; saliency
  robustness    white-box PGD on the waveform within an SNR bound, against white noise of the same power
  sharding      the "data" device mesh, batch-sharded / replicated arrays, per-device batch_map
  distributed   multi-process runs: initialize from flags, barriers, each process's share of a work list
"""
from mgc_jax.errors import AudioError, DataError

__all__ = ["AudioError", "DataError"]
