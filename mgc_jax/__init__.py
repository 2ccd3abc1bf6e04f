"""mgc_jax: music genre classification with MIRToolbox feature maps and residual CNNs (Senac et al. 2017).

Imports flow one way: `dsp` -> the base modules here (errors, config, workdir, distributed, sharding, evaluate,
notebook_setup) -> `data` -> `nets` -> `train` -> `serve` -> `eval` -> `launch`. Import modules directly; this
init stays light so `import mgc_jax` does not start JAX.
"""
from mgc_jax.errors import AudioError, DataError

__all__ = ["AudioError", "DataError"]
