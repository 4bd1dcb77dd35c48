import json

import pytest
import torch

from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import TrainingError
from vaekit.model.vae import VAE
from vaekit.training import checkpoint, loop
from vaekit.training.loop import LoopState, train


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return VAE(ModelConfig(latent_dim=2, hidden=(16,), **kw), (1, 4, 4), "binary")


def test_training_lowers_the_loss(binary_data):
    model = _model()
    before = model.elbo(binary_data).elbo.mean()
    state = train(
        model, binary_data, binary_data[:64], TrainConfig(epochs=15, batch_size=32, lr=3e-3)
    )
    after = model.elbo(binary_data).elbo.mean()
    assert after > before + 2
    h = state.history
    assert h[-1]["train_elbo"] > h[0]["train_elbo"]
    assert {"epoch", "train_elbo", "train_log_px_z", "train_kl_z", "val_elbo", "seconds"} <= set(
        h[0]
    )


@pytest.mark.parametrize(
    "model_kw,train_kw",
    [
        ({}, {"k": 5}),
        ({}, {"k": 5, "dreg": True}),
        ({}, {"free_bits": 0.2}),
        ({"prior": "vampprior", "components": 4}, {}),
        ({"prior": "mixture", "components": 4}, {"k": 3, "dreg": True}),
        ({"network": "conv", "channels": (8,)}, {}),
    ],
)
def test_every_objective_and_prior_trains(binary_data, model_kw, train_kw):
    model = _model(**model_kw)
    before = model.log_likelihood(binary_data, k=50).mean()
    train(model, binary_data, None, TrainConfig(epochs=10, batch_size=32, lr=3e-3, **train_kw))
    after = model.log_likelihood(binary_data, k=50).mean()
    assert after > before + 2


def test_free_bits_keep_information_in_the_latent(binary_data):
    def kl_after(free_bits):
        model = _model()
        config = TrainConfig(epochs=10, batch_size=32, lr=3e-3, beta=4.0, free_bits=free_bits)
        train(model, binary_data, None, config)
        return model.elbo(binary_data).kl_z.mean()

    # a heavy beta collapses the posterior onto the prior (KL ~0.03 nats); with a floor of 1 nat
    # per dimension nothing pushes below it, and about 1.5 nats of information stay
    assert kl_after(1.0) > 1.0 > 0.1 > kl_after(0.0)


def test_iwae_bound_is_above_the_elbo_and_grows_with_k(binary_data):
    model = _model()
    train(model, binary_data, None, TrainConfig(epochs=10, batch_size=32, lr=3e-3))
    torch.manual_seed(0)
    x = binary_data[:128]
    elbo = torch.stack([model.elbo(x).elbo for _ in range(50)]).mean(0).mean()
    bounds = [model.log_likelihood(x, k=k).mean() for k in (1, 5, 50, 500)]
    torch.testing.assert_close(bounds[0], elbo, atol=0.1, rtol=0)  # L_1 is the ELBO
    assert all(b > a - 0.02 for a, b in zip(bounds, bounds[1:], strict=False))
    assert bounds[-1] > elbo + 0.05


def test_iwae_training_runs(binary_data):
    state = train(_model(), binary_data, None, TrainConfig(epochs=2, batch_size=64, k=5))
    assert len(state.history) == 2


def test_early_stopping_restores_the_best_weights(binary_data):
    model = _model()
    seen = {}

    def spy(state: LoopState) -> None:
        seen[state.epoch] = {k: v.clone() for k, v in state.model.state_dict().items()}

    state = train(
        model,
        binary_data,
        binary_data[:32],
        TrainConfig(epochs=40, batch_size=32, lr=1e-2, patience=2),
        hooks=[spy],
    )
    assert state.stop and state.epoch < 40
    assert state.epoch - state.best_epoch == 2
    best = seen[state.best_epoch]
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())


def test_warmup_ramps_beta(binary_data):
    state = train(_model(), binary_data, None, TrainConfig(epochs=3, warmup=2, batch_size=64))
    betas = [r["beta"] for r in state.history]
    assert betas[0] < betas[1] <= 1.0 and betas[2] == 1.0


def test_training_is_deterministic(binary_data):
    a, b = _model(), _model()
    cfg = TrainConfig(epochs=2, batch_size=32, seed=3)
    train(a, binary_data, None, cfg)
    train(b, binary_data, None, cfg)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_non_finite_loss_names_epoch_and_step_and_keeps_the_checkpoint(binary_data, tmp_path):
    model = _model()
    cfg = TrainConfig(epochs=3, batch_size=32)
    calls = {"n": 0}

    def poison(state: LoopState) -> None:  # after epoch 1, corrupt a weight
        calls["n"] += 1
        if state.epoch == 1:
            with torch.no_grad():
                state.model.decoder.net[0].weight[0, 0] = float("nan")

    with pytest.raises(TrainingError, match="at epoch 2, step 1"):
        train(model, binary_data, None, cfg, out=tmp_path, hooks=[poison])
    # hooks run after the epoch's checkpoint: the one on disk is epoch 1's, intact
    info = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert info["epoch"] == 1
    saved = checkpoint.load_model(tmp_path)
    assert all(torch.isfinite(p).all() for p in saved.parameters())


def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(binary_data, tmp_path):
    cfg = TrainConfig(epochs=4, batch_size=32, seed=7, patience=10)
    straight = _model()
    train(straight, binary_data, binary_data[:32], cfg, binarize=True)

    class Interrupt(Exception):
        pass

    def crash(state: LoopState) -> None:
        if state.epoch == 2:
            state.stop = False
            raise Interrupt

    interrupted = _model()
    with pytest.raises(Interrupt):
        # hooks run after the epoch's checkpoint, so epoch 2 is on disk when it "crashes"
        train(
            interrupted,
            binary_data,
            binary_data[:32],
            cfg,
            binarize=True,
            out=tmp_path,
            hooks=[crash],
        )
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    resumed = _model(seed=123)  # whatever its initial weights, resume restores them
    state = train(
        resumed, binary_data, binary_data[:32], cfg, binarize=True, out=tmp_path, resume=True
    )
    assert state.epoch == 4
    for (name, p), q in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name
    saved = checkpoint.load_model(tmp_path)
    assert all(
        torch.equal(p, q) for p, q in zip(saved.parameters(), resumed.parameters(), strict=True)
    )
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4


def test_a_crash_mid_epoch_resumes_from_the_last_completed_epoch(
    binary_data, tmp_path, monkeypatch
):
    cfg = TrainConfig(epochs=3, batch_size=32, seed=1)
    straight = _model()
    train(straight, binary_data, binary_data[:32], cfg)
    real, calls = loop.validate, {"n": 0}

    def dies_in_epoch_3(*a, **kw):  # after epoch 3's steps, before its checkpoint
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(loop, "validate", dies_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(_model(), binary_data, binary_data[:32], cfg, out=tmp_path)
    monkeypatch.setattr(loop, "validate", real)
    resumed = _model(seed=5)
    train(resumed, binary_data, binary_data[:32], cfg, out=tmp_path, resume=True)
    assert all(
        torch.equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters(), strict=True)
    )


def test_resume_repairs_metrics_left_behind_by_an_interrupt_between_files(binary_data, tmp_path):
    """Ctrl-C after an epoch's train state is written but before its metrics.jsonl: resuming a
    run that is already long enough still leaves metrics that match the state."""
    cfg = TrainConfig(epochs=2, batch_size=64, seed=1)
    train(_model(), binary_data, None, cfg, out=tmp_path)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    (tmp_path / "metrics.jsonl").write_text(lines[0] + "\n")  # epoch 2's line never written
    train(_model(), binary_data, None, cfg, out=tmp_path, resume=True)  # nothing left to train
    assert (tmp_path / "metrics.jsonl").read_text().splitlines() == lines


def test_resume_without_a_checkpoint_is_an_error(binary_data, tmp_path):
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(_model(), binary_data, None, TrainConfig(epochs=1), out=tmp_path, resume=True)


def test_l1_and_weight_decay_shrink_the_weights(binary_data):
    plain, reg = _model(), _model()
    train(plain, binary_data, None, TrainConfig(epochs=5, batch_size=32))
    train(reg, binary_data, None, TrainConfig(epochs=5, batch_size=32, l1=50.0, weight_decay=1e-2))
    norm = lambda m: sum(p.abs().sum() for n, p in m.named_parameters() if "weight" in n)  # noqa: E731
    assert norm(reg) < 0.9 * norm(plain)


def test_streaming_path_trains_from_a_torch_dataset(binary_data):
    ds = torch.utils.data.TensorDataset(binary_data)
    state = train(_model(), ds, binary_data[:32], TrainConfig(epochs=2, batch_size=64))
    assert len(state.history) == 2 and state.history[-1]["val_elbo"] < 0


def test_gradient_clipping_bounds_each_step(binary_data, monkeypatch):
    real, norms = loop.make_optimizer, []

    def spying_optimizer(model, config):
        opt = real(model, config)
        step = opt.update  # what the loop calls: Adam's step without torch's wrapper

        def spy(*a, **kw):
            norms.append(
                torch.linalg.vector_norm(
                    torch.cat([p.grad.flatten() for p in model.parameters()])
                ).item()
            )
            return step(*a, **kw)

        opt.update = spy
        return opt

    monkeypatch.setattr(loop, "make_optimizer", spying_optimizer)
    train(_model(), binary_data, None, TrainConfig(epochs=1, batch_size=32, clip_norm=0.5))
    assert len(norms) == 8 and max(norms) <= 0.5 * (1 + 1e-5)
    norms.clear()
    train(_model(), binary_data, None, TrainConfig(epochs=1, batch_size=32))
    assert max(norms) > 0.5  # without clipping the same steps are larger


def test_a_run_that_stopped_early_trains_no_further_on_resume(binary_data, tmp_path):
    """The stop is saved with the epoch: a resume (after a kill during the final best-weights
    write, say) ends where the uninterrupted run ended, with its best weights."""
    cfg = TrainConfig(epochs=40, batch_size=32, lr=1e-2, patience=2)
    done = train(_model(), binary_data, binary_data[:32], cfg, out=tmp_path)
    assert done.stop and done.epoch < 40
    final = checkpoint.load_model(tmp_path).state_dict()
    checkpoint.save_model(_model(seed=5), tmp_path)  # as if killed before the best was written
    again = train(_model(), binary_data, binary_data[:32], cfg, out=tmp_path, resume=True)
    assert again.epoch == done.epoch and again.history == done.history
    resumed = checkpoint.load_model(tmp_path).state_dict()
    assert all(torch.equal(resumed[k], v) for k, v in final.items())
