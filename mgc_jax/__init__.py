"""mgc_jax: music genre classification with MIRToolbox feature maps and residual CNNs (Senac et al. 2017).

Modules (import them directly; this package init stays light so `import mgc_jax` does not start JAX):
  audio         load any audio file as float32 mono at 22,050 Hz
  datasets      GTZAN discovery, folds and splits, the built-in synthetic corpus
  workdir       the workdir layout (corpora, features, splits, runs, results)
  cache         the per-track feature cache and batched extraction, sharded over devices and processes
  corpus        corpus preparation: synthetic on first use, discovery, extraction
  clips         3 s clip windows into memory-mapped feature maps, shuffled batches
  models        GenreCNN (net_STFT, net_MUSIC) and the early-fusion net (Flax NNX)
  train         TrainConfig and the resumable training loop
  checkpoint    orbax save / restore (always against an abstract state)
  evaluate      majority vote, FUSION1, FUSION2, confusion matrices, bootstrap CIs
  inference     Classifier.from_checkpoint(...).predict(path_or_array)
  sharding      the "data" device mesh, batch-sharded / replicated arrays, per-device batch_map
  distributed   multi-process runs: initialize from flags, barriers, each process's share of a work list
"""
from mgc_jax.errors import AudioError, DataError

__all__ = ["AudioError", "DataError"]
