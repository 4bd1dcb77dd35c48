"""A VAE on scikit-learn's 8x8 digits in a plain PyTorch loop: train it, then sample from it.

Only the core objects: the VAE (encoder -> q(z|x), prior p(z), decoder -> p(x|z), all
torch.distributions) and the ELBO, a pure function of those distributions (Kingma & Welling 2014).
`vaekit.fit` / `vaekit train` wrap the same model in the full training loop.

    python examples/train_and_sample.py [EPOCHS] [SAMPLES.png]
"""

import sys

import torch
from PIL import Image
from sklearn.datasets import load_digits

from vaekit import VAE, ModelConfig, elbo

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
png = sys.argv[2] if len(sys.argv) > 2 else "samples.png"
torch.manual_seed(0)
x = torch.tensor(load_digits().images / 16, dtype=torch.float32)[:, None]  # (1797, 1, 8, 8)
x_train, x_test = x[:1500], x[1500:]

# the digits' grey values lie on 17 levels k/16: a discretized logistic gives their probabilities
config = ModelConfig(latent_dim=2, hidden=(256,), likelihood="discretized-logistic", levels=17)
model = VAE(config, shape=(1, 8, 8), kind="grey")
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(1, epochs + 1):
    for xb in x_train[torch.randperm(len(x_train))].split(100):  # (B, 1, 8, 8)
        qz = model.qz(xb)  # q(z|x), a diagonal Gaussian with batch (B,), event (L,)
        z = qz.rsample()  # (B, L), reparameterised: gradients flow into the encoder
        terms = elbo(xb, qz, model.pz(), model.px(z), z)  # log_px_z, kl_z, elbo: (B,) nats
        optimizer.zero_grad()
        (-terms.elbo.mean()).backward()
        optimizer.step()
    with torch.no_grad():
        test_elbo = model.elbo(x_test).elbo.mean().item()
    print(f"epoch {epoch:3d}  test ELBO {test_elbo:8.2f} nats per digit")

samples = model.sample(16, seed=0)  # (16, 1, 8, 8): the means of p(x|z), z ~ p(z)
grid = samples.reshape(4, 4, 8, 8).permute(0, 2, 1, 3).reshape(32, 32)  # a 4 x 4 grid
Image.fromarray((grid * 255).byte().numpy()).resize((256, 256), Image.NEAREST).save(png)
print(f"16 samples -> {png}")
