"""Evaluation: the held-out report, latent diagnostics and probes."""
