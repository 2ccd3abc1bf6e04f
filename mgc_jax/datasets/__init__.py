"""Corpora and splits.

  track      Track (id, class name, path, artist, split), Discovery, path_track_id (ids from file paths)
  sources    kind_of / corpus_name / find: what --data_dir names (GTZAN folder, labelled folder, manifest)
  gtzan      GENRES, discover / scan / is_gtzan_layout of GTZAN-layout folders (bad files reported and skipped)
  folder     scan of labelled folders <root>/<class>/**/<audio file> (bad files reported and skipped)
  manifest   read of CSV manifests path,label[,artist,split,track_id] (missing files reported and skipped)
  folds      Split, stratified_folds, artist_folds, manifest_split, filtered_split, get_split (split files)
  synthetic  make_corpus: the built-in ten-genre synthetic corpus
  synth_primitives  its wavetable oscillators, envelopes, noise beds and level helpers
  data/      package data: the fault-filtered split lists and Sturm's artist index (see data/SOURCES.md)
"""
