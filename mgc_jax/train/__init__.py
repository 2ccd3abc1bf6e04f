"""Training one run: the compiled steps, the resumable loop, its checkpoints and its run-directory files."""
