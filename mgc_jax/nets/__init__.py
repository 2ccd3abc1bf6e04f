"""The nets: residual CNNs (net_STFT, net_MUSIC, early fusion) and what shapes their input maps."""
