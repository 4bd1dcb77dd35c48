import pytest
import torch

from vaekit._fast import kernels
from vaekit._fast.kernels import Linear
from vaekit.errors import ConfigError


@pytest.fixture
def fresh_choice():
    """Each test decides the backend anew, and leaves no decision behind for the others."""
    kernels.use_onednn.cache_clear()
    yield
    kernels.use_onednn.cache_clear()


@pytest.fixture(params=["onednn", "torch"])
def backend(request, monkeypatch, fresh_choice):
    """Both GEMM paths, whichever this CPU would choose."""
    monkeypatch.setenv("VAEKIT_GEMM", request.param)
    return request.param


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5)])
def test_linear_matches_torch_forward_and_backward(backend, bias, shape):
    torch.manual_seed(0)
    fast = Linear(5, 6, bias=bias)
    ref = torch.nn.Linear(5, 6, bias=bias)
    ref.load_state_dict(fast.state_dict())
    x1 = torch.randn(shape, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = fast(x1), ref(x2)
    assert y1.shape == y2.shape == (*shape[:-1], 6)
    torch.testing.assert_close(y1, y2)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad)
    for p, q in zip(fast.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)


def test_odd_strides_and_stride_zero_gradients(backend):
    torch.manual_seed(0)
    fast = Linear(3, 4)
    h = torch.randn(8, 6, requires_grad=True)
    fast(h[:, ::2]).sum().backward()  # a strided input; the gradient of a sum is a stride-0 expand
    ref = torch.nn.Linear(3, 4)
    ref.load_state_dict(fast.state_dict())
    h2 = h.detach().clone().requires_grad_()
    ref(h2[:, ::2]).sum().backward()
    torch.testing.assert_close(h.grad, h2.grad)
    torch.testing.assert_close(fast.weight.grad, ref.weight.grad)


def test_backend_switch(monkeypatch, fresh_choice):
    monkeypatch.setenv("VAEKIT_GEMM", "torch")
    assert kernels.use_onednn() is False
    fast = Linear(3, 2)
    x = torch.randn(4, 3)
    torch.testing.assert_close(fast(x), torch.nn.functional.linear(x, fast.weight, fast.bias))
    kernels.use_onednn.cache_clear()
    monkeypatch.setenv("VAEKIT_GEMM", "onednn")
    assert kernels.use_onednn() == torch.backends.mkldnn.is_available()


@pytest.mark.parametrize(
    ("vendor", "onednn"),
    [("GenuineIntel", False), ("AuthenticAMD", True), ("HygonGenuine", True), (None, False)],
)
def test_auto_uses_onednn_only_where_mkl_is_slow(monkeypatch, fresh_choice, vendor, onednn):
    monkeypatch.delenv("VAEKIT_GEMM", raising=False)
    monkeypatch.setattr(kernels, "cpu_vendor", lambda: vendor)
    assert kernels.use_onednn() == (onednn and torch.backends.mkldnn.is_available())


def test_unknown_backend_is_one_clear_error(monkeypatch, fresh_choice):
    monkeypatch.setenv("VAEKIT_GEMM", "cublas")
    with pytest.raises(ConfigError, match="VAEKIT_GEMM='cublas' is not one of auto, onednn"):
        kernels.use_onednn()


def test_cpu_vendor_reads_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\n")
    assert kernels.cpu_vendor(info) == "AuthenticAMD"
    info.write_text("processor\t: 0\nCPU implementer\t: 0x41\n")  # an ARM machine says no vendor
    assert kernels.cpu_vendor(info) is None
    assert kernels.cpu_vendor(tmp_path / "absent") is None


def test_choosing_the_backend_leaves_the_global_rng_alone(monkeypatch, fresh_choice):
    monkeypatch.setenv("VAEKIT_GEMM", "onednn")  # the probe draws random numbers
    state = torch.get_rng_state()
    kernels.use_onednn()
    assert torch.equal(state, torch.get_rng_state())
