"""The probabilistic model: networks, likelihoods p(x|z), priors p(z), the objectives and the
:class:`VAE` that assembles them into ``torch.distributions`` objects."""

from vaekit.model.vae import VAE

__all__ = ["VAE"]
