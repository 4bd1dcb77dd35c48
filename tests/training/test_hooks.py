"""The built-in end-of-epoch hooks, driven by hand as the loop drives them."""

import math

import torch

from vaekit.config import TrainConfig
from vaekit.training.hooks import EarlyStopping, LoopState, Summary, summary


def _state(small_model):
    opt = torch.optim.SGD(small_model.parameters(), lr=0.1)
    return LoopState(small_model, opt, TrainConfig())


def _epoch(state, **record):
    state.epoch += 1
    state.history.append({"epoch": state.epoch, **record})


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience(small_model):
    state, hook = _state(small_model), EarlyStopping(patience=2)
    weights = {}
    for elbo in (-10.0, -8.0, -9.0):
        _epoch(state, train_elbo=0.0, val_elbo=elbo)  # validation decides over training
        with torch.no_grad():
            next(small_model.parameters()).add_(1.0)  # the weights change every epoch
        weights[state.epoch] = {k: v.clone() for k, v in small_model.state_dict().items()}
        hook(state)
    assert (state.best_epoch, state.best_val, state.bad_epochs, state.stop) == (2, -8.0, 1, False)
    best = state.best_weights
    assert all(torch.equal(best[k], v) for k, v in weights[2].items())
    _epoch(state, train_elbo=0.0, val_elbo=-8.0)  # not better: a tie does not count
    hook(state)
    assert state.stop and state.best_epoch == 2 and state.best_weights is best


def test_without_patience_the_best_epoch_is_tracked_but_training_never_stops(small_model):
    state, hook = _state(small_model), EarlyStopping(patience=None)
    for elbo in (-1.0, -2.0, -3.0, -4.0):
        _epoch(state, train_elbo=elbo)
        hook(state)
    assert state.best_epoch == 1 and state.best_val == -1.0 and state.bad_epochs == 3
    assert not state.stop and state.best_val > -math.inf


def test_the_summary_is_one_line_with_the_terms_and_the_time(small_model, capsys):
    record = {"epoch": 3, "train_elbo": -20.5, "train_log_px_z": -18.0, "train_kl_z": 2.5}
    line = summary({**record, "seconds": 1.25})
    assert line.split() == "epoch 3 train ELBO -20.500 log p(x|z) -18.000 KL 2.500 1.25s".split()
    state = _state(small_model)
    state.history.append({**record, "val_elbo": -21.0, "seconds": 0.5})
    Summary()(state)
    assert "val ELBO   -21.000" in capsys.readouterr().err
