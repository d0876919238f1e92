"""The lecture's complexity table (SPEC section 7), row by row, and the summary as data and text."""

from __future__ import annotations

import doctest
import os
import re
import sys

import pytest

from cnncore import nn

# SPEC.md section 7: (name, shape (H, W, C), size, parameters).
LECTURE_TABLE = [
    ("INPUT", (28, 28, 1), 784, 0),
    ("CONV1", (28, 28, 16), 12544, 416),
    ("POOL1", (14, 14, 16), 3136, 0),
    ("CONV2", (14, 14, 32), 6272, 12832),
    ("POOL2", (7, 7, 32), 1568, 0),
    ("FC3", (100,), 100, 156900),
    ("FC4", (10,), 10, 1010),
]
LECTURE_TOTAL = 171158
# Multiply-accumulates per image: outputs x (kernel taps x input channels), inputs x units.
LECTURE_MACS = [0, 28 * 28 * 16 * 25, 0, 14 * 14 * 32 * 25 * 16, 0, 1568 * 100, 100 * 10]

SPEC = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "shared", "SPEC.md")


def test_lecture_summary_equals_spec_section_7_row_by_row():
    summary = nn.lecture_model(pretrained=False, seed=None).summary()
    assert [(r.name, r.shape, r.size, r.params) for r in summary.rows] == LECTURE_TABLE
    assert [r.index for r in summary.rows] == list(range(1, 8))
    assert summary.total_params == LECTURE_TOTAL == 171_158
    assert summary.rows[3].params == 12_832  # not the lecture's slip, 12,932
    assert [r.macs for r in summary.rows] == LECTURE_MACS
    assert summary.total_macs == sum(LECTURE_MACS) == 2_980_200
    assert summary.param_bytes == 4 * LECTURE_TOTAL
    assert summary.activation_bytes == 4 * sum(size for _, _, size, _ in LECTURE_TABLE)


@pytest.mark.skipif(not os.path.exists(SPEC), reason="shared/SPEC.md is not beside the repository")
def test_lecture_summary_equals_the_table_printed_in_spec_md():
    with open(SPEC, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## 7."):text.index("## 8.")]
    rows = re.findall(r"^\| (\d) \| [^|]+ \| \(([\d, ]+)\) \| ([\d,]+) \| ([\d,]+) \|$",
                      section, re.M)
    assert len(rows) == 7
    total = int(re.search(r"\| Total \| \| \| ([\d,]+) \|", section).group(1).replace(",", ""))
    summary = nn.lecture_model(pretrained=False, seed=None).summary()
    for (no, shape, size, params), row in zip(rows, summary.rows):
        assert row.index == int(no)
        assert row.shape == tuple(int(v) for v in shape.replace(" ", "").strip(",").split(","))
        assert row.size == int(size.replace(",", ""))
        assert row.params == int(params.replace(",", ""))
    assert summary.total_params == total


def test_summary_channels_first_order():
    summary = nn.lecture_model(pretrained=False, seed=None).summary(order="chw")
    assert [r.shape for r in summary.rows] == [(1, 28, 28), (16, 28, 28), (16, 14, 14),
                                               (32, 14, 14), (32, 7, 7), (100,), (10,)]
    assert summary.order == "chw"
    with pytest.raises(ValueError, match=r"summary: order must be 'hwc' or 'chw', got 'nhwc'"):
        nn.lecture_model(pretrained=False, seed=None).summary(order="nhwc")


def test_summary_text_is_the_table():
    text = str(nn.lecture_model(pretrained=False, seed=None).summary())
    lines = text.splitlines()
    assert lines[0] == "Model: lecture (shapes per sample, (H, W, C))"
    assert re.search(r"^ 4  CONV2 +Conv2D 5x5, 32 filters, same, relu +\(14, 14, 32\) +6,272 "
                     r"+12,832 +2,508,800$", text, re.M)
    assert re.search(r"^ +Total +171,158 +2,980,200$", text, re.M)
    assert "Parameters: 171,158 (668.6 KiB in float32)" in text


def test_summary_of_a_conv1d_model_in_both_orders():
    model = nn.Sequential([
        nn.Input((100, 3), order="hwc"),  # (L, C)
        nn.Conv1D(8, 5, stride=2, padding="same", activation="elu"),
        nn.AvgPool1D(2),
        nn.Flatten(),
        nn.Dense(4),
    ], seed=None)
    hwc, chw = model.summary(), model.summary(order="chw")
    assert [r.shape for r in hwc.rows] == [(100, 3), (50, 8), (25, 8), (200,), (4,)]
    assert [r.shape for r in chw.rows] == [(3, 100), (8, 50), (8, 25), (200,), (4,)]
    assert [r.params for r in hwc.rows] == [0, 5 * 3 * 8 + 8, 0, 0, 200 * 4 + 4]
    assert [r.macs for r in hwc.rows] == [0, 50 * 8 * 15, 0, 0, 800]
    assert hwc.rows[1].layer == "Conv1D 5, 8 filters, same, stride 2, elu"


def test_summary_needs_no_weights_and_rows_are_data():
    model = nn.Sequential([nn.Input((3, 4000, 4000)), nn.Conv2D(64, 3, groups=1),
                           nn.Dense(1000)], seed=None)  # 1e12 weights: never allocated
    summary = model.summary()
    assert summary.rows[-1].params == 64 * 3998 * 3998 * 1000 + 1000
    row = summary.rows[1]
    assert (row.index, row.name, row.layer) == (2, "conv2d_1", "Conv2D 3x3, 64 filters, valid")
    with pytest.raises(AttributeError):
        row.params = 0  # frozen


@pytest.mark.parametrize("module", ["cnncore.nn", "cnncore.nn.layers", "cnncore.nn.model",
                                    "cnncore.nn.summary", "cnncore.nn.weights", "cnncore.nn.config",
                                    "cnncore.nn.pytorch", "cnncore.nn.lecture", "cnncore.nn._png"])
def test_docstring_examples_run(module):
    mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_every_public_name_is_documented():
    for name in nn.__all__:
        obj = getattr(nn, name)
        assert obj.__doc__ and len(obj.__doc__) > 40, name
