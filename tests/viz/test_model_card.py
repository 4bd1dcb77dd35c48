"""The model folder: weights and a README model card a hub renders, loaded back by vaekit.load."""

import json

import numpy as np
import torch

import vaekit
from vaekit.viz import model_card


def _front_matter(text: str) -> dict[str, object]:
    """The YAML header of a card, read by hand (keys and lists of a hub's model card)."""
    assert text.startswith("---\n")
    head, _, _ = text[4:].partition("\n---\n")
    out: dict[str, object] = {}
    key = ""
    for line in head.splitlines():
        if line.startswith("- "):
            out[key].append(line[2:])  # the list follows its key
        else:
            key, _, value = line.partition(":")
            out[key] = value.strip() or []
    return out


def test_a_fitted_model_folder_has_a_card_and_loads_back_equal(tmp_path, binary_data, one_thread):
    model = vaekit.fit(
        binary_data.numpy(),
        vaekit.ModelConfig(latent_dim=2, hidden=(16,)),
        vaekit.TrainConfig(epochs=2, batch_size=64),
        progress=False,
    )
    weights = vaekit.save(model, tmp_path / "m")
    assert weights == tmp_path / "m" / "model.safetensors"
    loaded = vaekit.load(tmp_path / "m")
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a.cpu(), b), name
    text = (tmp_path / "m" / "README.md").read_text()
    meta = _front_matter(text)
    assert meta["library_name"] == "vaekit"
    assert {"vaekit", "variational-autoencoder", "likelihood-bernoulli"} <= set(meta["tags"])
    assert "![training curves" in text and (tmp_path / "m" / model_card.CURVES_FILE).is_file()
    assert "| batch_size | 64 |" in text and "| latent_dim | 2 |" in text
    assert f"| train_elbo | {model.history[-1]['train_elbo']:.4g} |" in text
    assert "Not evaluated" in text


def test_a_run_folder_card_states_the_evaluation_method(tmp_path, small_model):
    run = tmp_path / "run"
    run.mkdir()
    evaluation = {"method": "importance sampling, k=100", "split": "test", "nll": 12.5}
    (run / "evaluation.json").write_text(json.dumps(evaluation))
    vaekit.save(small_model, run)
    text = (run / "README.md").read_text()
    assert "Method: importance sampling, k=100; test split" in text and "| nll | 12.5 |" in text
    assert "## Training" not in text  # no history, no curves
    assert not (run / model_card.CURVES_FILE).exists()


def test_a_safetensors_file_gets_no_card(tmp_path, small_model):
    vaekit.save(small_model, tmp_path / "m.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    loaded = vaekit.load(tmp_path / "m.safetensors")
    torch.testing.assert_close(loaded.encode(x), small_model.encode(x))


def test_nested_evaluation_values_are_rows_with_formatted_numbers(tmp_path, small_model):
    run = tmp_path / "run"
    run.mkdir()
    probes = {"vae_logistic": 0.3277777777777778, "vae_knn": 0.41, "n_test": 180}
    evaluation = {"nll": 12.345678, "probe_accuracy": probes}
    (run / "evaluation.json").write_text(json.dumps(evaluation))
    vaekit.save(small_model, run)
    text = (run / "README.md").read_text()
    assert "| probe_accuracy.vae_logistic | 0.3278 |" in text
    assert "| probe_accuracy.vae_knn | 0.41 |" in text
    assert "| probe_accuracy.n_test | 180 |" in text and "| nll | 12.35 |" in text
    assert "{" not in text.partition("## Evaluation")[2]


def test_cells_flatten_deeper_mappings_and_inline_them_in_lists():
    table = model_card._table(
        [("a", {"b": {"c": 1.23456, "d": None}, "e": {}}), ("f", [{"g": 0.5}])]
    )
    assert table.splitlines()[2:] == [
        "| a.b.c | 1.235 |",
        "| a.b.d | - |",
        "| a.e | - |",
        "| f | g: 0.5 |",
    ]
