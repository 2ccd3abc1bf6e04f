"""Audio in, feature maps out: decoding, corpora and splits, the feature cache, and clips of cached maps.

  audio, maps, extraction, cache, clips   decode a file; its feature maps; the cache that stores them; 3 s clips
  sources, gtzan, folder, manifest, track what --data_dir names and the tracks it holds
  corpus, folds, synthetic                a corpus ready for training, its splits, the built-in corpus
  mel, augment                            the mel scale; audio augmentations of the online training step
"""
