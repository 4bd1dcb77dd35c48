"""One epoch of batches: shuffled, binarised on the fly, labels beside their examples. The
data-parallel shares are checked in test_distributed.py."""

import torch

from vaekit.training.batching import batches


def test_dynamic_binarization_draws_fresh_binary_batches():
    grey = torch.full((4096, 3), 0.3)
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    ((a, *_),) = batches(grey, None, 4096, binarize=True, device=cpu)
    ((b, *_),) = batches(grey, None, 4096, binarize=True, device=cpu)
    assert set(a.unique().tolist()) == {0.0, 1.0} and not torch.equal(a, b)
    assert abs(a.mean().item() - 0.3) < 0.02  # P(1) is the grey value
    ((c, *_),) = batches(grey, None, 4096, binarize=False, device=cpu)
    assert torch.equal(c, grey)


def test_labels_ride_along_with_their_examples():
    x = torch.arange(10.0)[:, None].expand(10, 3).contiguous()
    y = torch.arange(10)
    seen = []
    for batch in batches(x, y, 4, binarize=False, device=torch.device("cpu")):
        assert torch.equal(batch.x[:, 0].long(), batch.y)
        seen += batch.y.tolist()
    assert sorted(seen) == list(range(10))  # every example once, in batches of 4, 4, 2
