import pytest
import torch

from vaekit._fast import optim
from vaekit._fast.optim import Adam


def _params(seed):
    torch.manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]


def test_lean_adam_equals_torch_fused_adam_bit_for_bit():
    a, b = _params(0), _params(0)
    ours = Adam(a, lr=1e-2, weight_decay=0.1)
    ref = torch.optim.Adam(b, lr=1e-2, weight_decay=0.1, fused=True)
    for step in range(5):
        torch.manual_seed(step)
        grads = [torch.randn_like(p) for p in a]
        for p, q, g in zip(a, b, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
        assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    # the state is Adam's: it moves between the two
    again = torch.optim.Adam(_params(1), lr=1e-2, weight_decay=0.1, fused=True)
    again.load_state_dict(ours.state_dict())
    assert torch.equal(again.state_dict()["state"][0]["exp_avg"], ref.state[b[0]]["exp_avg"])


def test_parameters_without_gradients_are_left_alone():
    p, q = _params(0)
    opt = Adam([p, q], lr=0.1)
    p.grad = torch.ones_like(p)
    before = q.detach().clone()
    opt.step()
    assert torch.equal(q, before) and q not in opt.state


def test_update_is_step_without_the_wrapper_and_step_keeps_its_hooks():
    a, b = _params(0), _params(0)
    stepped, updated = Adam(a, lr=1e-2), Adam(b, lr=1e-2)
    calls = []
    stepped.register_step_post_hook(lambda opt, args, kwargs: calls.append("step"))
    updated.register_step_post_hook(lambda opt, args, kwargs: calls.append("update"))
    for step in range(3):
        torch.manual_seed(step)
        for p, q in zip(a, b, strict=True):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        stepped.step()
        updated.update()
        assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert calls == ["step"] * 3  # torch's hooks run around step(), not around update()


def test_zero_grad_drops_or_zeroes_every_gradient():
    params = _params(0)
    opt = Adam(params)
    for p in params:
        p.grad = torch.ones_like(p)
    kept = [p.grad for p in params]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.any() for p, g in zip(params, kept, strict=True))
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def _trained(binary_data):
    """Weights after one seeded epoch of a small model, and the optimizer train() chose."""
    from vaekit.config import ModelConfig, TrainConfig
    from vaekit.model.vae import VAE
    from vaekit.training.loop import train

    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(16,)), (1, 4, 4))
    state = train(model, binary_data, None, TrainConfig(epochs=1, batch_size=64))
    return [p.detach().clone() for p in model.parameters()], state.optimizer


def test_the_lean_adam_is_chosen_where_the_fused_kernel_answers():
    opt = optim.adam(_params(0), lr=1e-3)
    assert type(opt) is Adam


def test_a_failing_lean_call_falls_back_to_torch_fused_adam_with_the_same_numbers(
    binary_data, monkeypatch
):
    lean, opt = _trained(binary_data)
    assert type(opt) is Adam

    def changed_signature(self, lr=None):  # as if torch renamed an argument of _fused_adam_
        raise TypeError("_fused_adam_() got an unexpected keyword argument 'beta1'")

    monkeypatch.setattr(Adam, "update", changed_signature)
    with pytest.warns(RuntimeWarning, match=r"torch.optim.Adam\(fused=True\)"):
        fused, opt = _trained(binary_data)
    assert type(opt) is torch.optim.Adam and opt.defaults["fused"]
    # torch's fused step is the lean step's arithmetic: the same weights, bit for bit
    assert all(torch.equal(p, q) for p, q in zip(lean, fused, strict=True))


@pytest.mark.parametrize("kernel", ["missing", "wrong"])
def test_a_missing_or_wrong_fused_kernel_falls_back_to_the_foreach_kernel(
    binary_data, monkeypatch, kernel
):
    lean, _ = _trained(binary_data)
    if kernel == "missing":
        monkeypatch.delattr(torch, "_fused_adam_")
    else:  # answers without updating anything
        monkeypatch.setattr(torch, "_fused_adam_", lambda *a, **kw: None)
    with pytest.warns(RuntimeWarning, match="foreach"):
        foreach, opt = _trained(binary_data)
    assert type(opt) is torch.optim.Adam and opt.defaults["foreach"]
    assert not opt.defaults["fused"]
    # the same Adam up to rounding
    for p, q in zip(lean, foreach, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
