"""The export folder is all or nothing: a failed export leaves ``--out`` as it was, a new one
replaces a previous export whole, and a folder holding anything else is refused."""

import pytest
import torch

from vaekit import export, runs
from vaekit.cli import main
from vaekit.config import ModelConfig
from vaekit.errors import RunExistsError
from vaekit.model.vae import VAE

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


def _model(kind: str = "binary") -> VAE:
    torch.manual_seed(0)
    return VAE(ModelConfig(latent_dim=2, hidden=(8,)), (1, 4, 4), kind, levels=256).eval()


def _contents(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _no_temp_left(parent) -> bool:
    return not [p for p in parent.iterdir() if p.name.startswith(runs.TEMP_PREFIX)]


def test_a_failed_export_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    out = tmp_path / "x"
    export.export(_model(), out, "torchscript")
    before = _contents(out)

    def broken(self, z, y=None):
        raise RuntimeError("the decoder cannot be traced")

    monkeypatch.setattr(export.Decoder, "forward", broken)
    with pytest.raises(RuntimeError, match="cannot be traced"):
        export.export(_model("grey"), out, "torchscript")  # the encoder would succeed
    assert _contents(out) == before
    assert _no_temp_left(tmp_path)


def test_a_failed_export_into_a_new_folder_creates_nothing(tmp_path, monkeypatch):
    def broken(self, z, y=None):
        raise RuntimeError("the decoder cannot be traced")

    monkeypatch.setattr(export.Decoder, "forward", broken)
    with pytest.raises(RuntimeError):
        export.export(_model(), tmp_path / "new", "torchscript")
    assert list(tmp_path.iterdir()) == []


def test_a_new_export_replaces_a_previous_one_whole(tmp_path):
    pytest.importorskip("onnxscript", reason="the export extra is not installed")
    out = tmp_path / "x"
    export.export(_model(), out, "onnx")
    (out / f"{runs.TEMP_PREFIX}card.json.abc{runs.TEMP_SUFFIX}").write_text("")  # a killed write
    export.export(_model("grey"), out, "torchscript")
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "decoder.pt", "encoder.pt"]
    assert '"discretized-logistic"' in (out / "card.json").read_text()
    assert _no_temp_left(tmp_path)


def test_a_folder_holding_other_files_is_refused(tmp_path, capsys):
    from vaekit import api

    out = tmp_path / "x"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "data.csv").write_text("1,2")
    (out / "encoder.pt").write_text("an old export")  # another export's file is fine
    with pytest.raises(
        RunExistsError, match=f"cannot export into {out}: it holds 'data.csv' and 1 more,"
    ):
        export.export(_model(), out, "torchscript")
    assert _contents(out) == {
        "data.csv": b"1,2",
        "encoder.pt": b"an old export",
        "notes.txt": b"mine",
    }
    api.save(_model(), tmp_path / "m")
    assert main(["export", str(tmp_path / "m"), "--format", "torchscript", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"vaekit: error: cannot export into {out}: it holds 'data.csv' and 1 more, not "
        "only a previous export (encoder.*, decoder.*, card.json); choose a new or empty folder"
    ]
    assert _contents(out) == {
        "data.csv": b"1,2",
        "encoder.pt": b"an old export",
        "notes.txt": b"mine",
    }


def test_out_naming_a_file_is_one_clear_line(tmp_path, capsys):
    from vaekit import api

    api.save(_model(), tmp_path / "m")
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert (
        main(["export", str(tmp_path / "m"), "--format", "torchscript", "--out", str(afile)]) == 2
    )
    err = capsys.readouterr().err.splitlines()
    assert err == [f"vaekit: error: cannot export into {afile}: it is a file, not a folder"]
    assert afile.read_text() == "keep me" and _no_temp_left(tmp_path)


def test_out_below_a_file_is_one_clear_line(tmp_path, capsys):
    from vaekit import api

    api.save(_model(), tmp_path / "m")
    (tmp_path / "afile").write_text("keep me")
    out = tmp_path / "afile" / "sub"
    assert main(["export", str(tmp_path / "m"), "--format", "torchscript", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"vaekit: error: cannot export into {out}: {out.parent} is a file, not a folder"]
