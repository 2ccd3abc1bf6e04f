"""Trained nets applied to audio: classification of files and arrays, and waveform saliency."""
