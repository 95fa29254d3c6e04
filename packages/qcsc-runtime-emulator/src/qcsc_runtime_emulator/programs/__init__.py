"""Runtime programs the emulator runs beside the V2 ``sampler`` and ``estimator``."""
