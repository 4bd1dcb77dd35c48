"""CSV files: header detection, label columns, and one clear error per kind of bad row."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.data import DataConfig, from_arrays, load_dataset
from vaekit.errors import ConfigError, DataError


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def load(path, **kw):
    return load_dataset(DataConfig(str(path), val_fraction=0.0, test_fraction=0.0, **kw))


def test_header_is_detected_and_label_found_by_name(tmp_path):
    rows = "".join(f"{i},{i * 2.5},{'ab'[i % 2]}\n" for i in range(10))
    data = load(write(tmp_path, "height,weight,kind\n" + rows), label_column="kind")
    assert data.shape == (2,) and len(data.x_train) == 10 and data.kind == "real"
    assert data.classes == ("a", "b") and data.y_train.tolist() == [0, 1] * 5
    assert torch.allclose(data.x_train[:, 1], torch.arange(10) * 2.5)


def test_no_header_and_label_by_index(tmp_path):
    path = write(tmp_path, "0.1,0.2,3\n0.3,0.4,1\n\n0.5,0.6,3\n")
    data = load(path, label_column="-1")
    assert data.kind == "grey" and data.y_train.tolist() == [3, 1, 3] and data.classes is None
    assert load(path).shape == (3,)  # without a label column every column is a feature


def test_tab_separated(tmp_path):
    data = load(write(tmp_path, "a\tb\n1\t2\n3\t4\n", "t.tsv"))
    assert data.shape == (2,) and len(data.x_train) == 2


@pytest.mark.parametrize(
    ("text", "kw", "match"),
    [
        ("a,b\n1,2\n3\n", {}, r"t\.csv: line 3 has 1 columns, expected 2"),
        ("a,b\n1,2\n3,x\n", {}, r"t\.csv: line 3, column 1 \('b'\): 'x' is not a number"),
        ("1,2\n3,\n", {}, r"line 2, column 1: '' is missing"),
        ("a,b\n1,2\nnan,4\n", {}, r"line 3, column 0 \('a'\): 'nan' is missing"),
        ("a,b\n1,2\n", {"label_column": "c"}, r"label column 'c' not found in the header"),
        ("1,2\n3,4\n", {"label_column": "c"}, "label column 'c' not found"),
        ("1,2\n3,4\n", {"label_column": "5"}, r"label column 5 does not exist \(2 columns\)"),
        ("a,b\n1,2\n3,2.5\n", {"label_column": "b"}, "line 3: label '2.5' is not an integer"),
        ("a,b\n1,\n", {"label_column": "b"}, "line 2: empty label"),
        ("a\n1\n", {"label_column": "a"}, "no feature columns"),
        ("", {}, "no rows"),
        ("a,b\n", {}, "a header but no data rows"),
    ],
)
def test_bad_csv(tmp_path, text, kw, match):
    with pytest.raises(DataError, match=match):
        load(write(tmp_path, text), **kw)


def test_not_utf8(tmp_path):
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DataError, match="not UTF-8"):
        load(tmp_path / "b.csv")


def test_label_column_only_for_csv(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    with pytest.raises(ConfigError, match="CSV files only"):
        load(tmp_path / "x.npy", label_column="0")


def test_empty_cells_are_one_clear_error_by_default(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n4,,6\n7,8,9\n")
    with pytest.raises(
        DataError, match=r"line 3, column 1 \('b'\): '' is missing.*missing=.allow."
    ):
        load(path)


def test_missing_allow_reads_empty_cells_as_nan_and_ignores_them_in_the_statistics(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,x\n,4,y\n3,NaN,x\n5,8,y\n")
    data = load(path, missing="allow", label_column="label")
    x = data.x_train  # (4, 2), rows in file order
    assert torch.isnan(x[1, 0]) and torch.isnan(x[2, 1]) and int(torch.isnan(x).sum()) == 2
    assert data.y_train.tolist() == [0, 1, 0, 1]
    torch.testing.assert_close(data.loc, torch.tensor([3.0, 14 / 3]))  # means of observed only
    expected = torch.tensor([np.std([1, 3, 5]), np.std([2, 4, 8])], dtype=torch.float32)
    torch.testing.assert_close(data.scale, expected)
    with pytest.raises(DataError, match="line 2, column 1: 'inf' is not finite"):
        load(write(tmp_path, "1,2\n3,inf\n", "inf.csv"), missing="allow")


def test_a_row_of_empty_cells_is_a_row_of_missing_values_and_a_blank_line_is_skipped(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n,,\n\n   \n4,5,6\n")
    x = load(path, missing="allow").x_train
    assert x.shape == (3, 3) and torch.isnan(x[1]).all() and not torch.isnan(x[[0, 2]]).any()
    with pytest.raises(DataError, match=r"line 3, column 0 \('a'\): '' is missing"):
        load(path)


def test_short_cells_with_empty_ones_are_read_as_missing(tmp_path):
    """Cells of one character: the empty ones must not become a truncated "nan"."""
    x = load(write(tmp_path, "1,\n3,4\n,5\n"), missing="allow").x_train
    assert x.shape == (3, 2) and torch.isnan(x[[0, 2], [1, 0]]).all() and x[1].tolist() == [3, 4]


@pytest.mark.parametrize(
    ("text", "header"),
    [
        ("1,,3\n4,5,6\n", False),  # an empty cell is a missing value, never a header's word
        (",,\n4,5,6\n", False),
        ("a,,c\n1,2,3\n", True),
        ("a,b\n,\n1,2\n", True),  # the first filled cell below a word is a number
        ("a,b\n,2\n", True),
    ],
)
def test_an_empty_cell_does_not_make_a_header(tmp_path, text, header):
    data = load(write(tmp_path, text), missing="allow")
    assert (data.columns is not None) == header
    assert len(data.x_train) == text.count("\n") - header


def test_data_with_no_observed_value_is_one_clear_error(tmp_path):
    np.save(tmp_path / "nan.npy", np.full((20, 3), np.nan))
    with pytest.raises(DataError, match=r"nan\.npy: every value is missing \(NaN\)"):
        load(tmp_path / "nan.npy", missing="allow")
    x = np.array([[np.nan, np.nan], [1.0, 2.0]])  # the observed row held out
    config = DataConfig("x", val_fraction=0.5, test_fraction=0.0, seed=3, missing="allow")
    with pytest.raises(DataError, match=r"training split \(1 of 2 rows\) holds no observed value"):
        from_arrays(x, config=config)
    # official splits: one of nothing but missing values says nothing about the kind
    np.savez(tmp_path / "s.npz", train=np.eye(3), valid=np.full((2, 3), np.nan))
    assert load(tmp_path / "s.npz", missing="allow").kind == "binary"
