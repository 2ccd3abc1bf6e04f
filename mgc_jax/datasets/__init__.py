"""Corpora and splits.

  gtzan      GENRES, Track, discover / scan of GTZAN-layout folders (bad files reported and skipped)
  folds      Split, stratified_folds, filtered_split, artist_folds, get_split (split files in the workdir)
  synthetic  make_corpus: the built-in ten-genre synthetic corpus
  data/      package data: the fault-filtered split lists and Sturm's artist index (see data/SOURCES.md)
"""
