"""Random architectures: the summary's counts and shapes against the model's real weights and a
real forward pass; configurations written and read back.

``random_config`` (also used by test_nn_torch.py) draws Conv1D and Conv2D networks from a seeded
generator, over every layer type and every padding form, within what PyTorch can also express
(pooling padding symmetric, 'same' pooling without ceil_mode), so the same networks serve both
files.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnncore import nn, shapes
from cnncore.nn.layers import LAYER_TYPES
from cnncore.nn.summary import order_shape

N_ARCHS = 50


def _conv_padding(rng, nd):
    form = str(rng.choice(["valid", "same", "full", "int", "ints", "pairs"]))
    if form in ("valid", "same", "full"):
        return form
    if form == "int":
        return int(rng.integers(0, 3))
    if form == "ints":
        return [int(v) for v in rng.integers(0, 3, nd)]
    pairs = [[int(v) for v in rng.integers(0, 3, 2)] for _ in range(nd)]
    return pairs[0] if nd == 1 and rng.random() < 0.5 else pairs


def _conv(rng, nd, shape):
    channels = shape[0]
    groups = int(rng.choice([g for g in (1, 2, 3, 4) if channels % g == 0]))
    if rng.random() < 0.5:
        groups = 1
    filters = groups * int(rng.integers(1, 4))
    layer = {
        "type": f"Conv{nd}D",
        "filters": filters,
        "kernel_size": [int(v) for v in rng.integers(1, 5, nd)],
        "stride": (int(rng.integers(1, 3)) if rng.random() < 0.6
                   else [int(v) for v in rng.integers(1, 3, nd)]),
        "padding": _conv_padding(rng, nd),
        "dilation": 1 if rng.random() < 0.7 else int(rng.integers(1, 3)),
        "groups": groups,
        "use_bias": bool(rng.random() < 0.8),
    }
    act = rng.choice(["none", "relu", "leaky_relu", "elu", "softmax", "leaky_dict", "elu_dict"])
    if act == "softmax" and filters < 2:  # a softmax over one channel is always 1: too easy
        layer["filters"] = 2 * groups
    if act == "leaky_dict":
        layer["activation"] = {"type": "LeakyReLU", "negative_slope": float(rng.choice([0.1, 0.3]))}
    elif act == "elu_dict":
        layer["activation"] = {"type": "ELU", "alpha": float(rng.choice([0.5, 1.5]))}
    elif act != "none":
        layer["activation"] = str(act)
    return layer


def _pool(rng, nd, shape):
    kind = str(rng.choice(["Max", "Avg", "Sum"]))
    kernel = [int(v) for v in rng.integers(1, 4, nd)]
    layer = {"type": f"{kind}Pool{nd}D", "kernel_size": kernel if rng.random() < 0.7 else kernel[0]}
    if rng.random() < 0.5:
        layer["stride"] = int(rng.integers(1, 4))
    form = str(rng.choice(["none", "valid", "same", "int"]))
    if form == "int":
        layer["padding"] = [int(rng.integers(0, k // 2 + 1)) for k in kernel]
        if isinstance(layer["kernel_size"], int):
            layer["padding"] = int(rng.integers(0, kernel[0] // 2 + 1))
    elif form != "none":
        layer["padding"] = form
    if form != "same" and rng.random() < 0.3:
        layer["ceil_mode"] = True
    if kind == "Max" and rng.random() < 0.3:
        layer["dilation"] = int(rng.integers(1, 3))
    if kind == "Avg" and form != "same" and rng.random() < 0.4:
        layer["count_include_pad"] = False
    return layer


def _activation(rng, shape):
    kind = str(rng.choice(["ReLU", "LeakyReLU", "ELU", "Softmax" if shape[0] > 1 else "ReLU"]))
    layer = {"type": kind}
    if kind == "LeakyReLU" and rng.random() < 0.7:
        layer["negative_slope"] = float(rng.choice([0.05, 0.2]))
    if kind == "ELU" and rng.random() < 0.7:
        layer["alpha"] = float(rng.choice([0.3, 2.0]))
    return layer


def _fits(layer, shape):
    try:
        built = nn.layer_from_config(dict(layer))
        return built.build(shape)
    except ValueError:
        return None


def random_config(seed):
    """A random Conv1D or Conv2D network (a config dict) from ``seed``."""
    rng = np.random.default_rng(seed)
    nd = 1 if seed % 3 == 0 else 2
    channels = int(rng.choice([1, 2, 3, 4]))
    sizes = [int(v) for v in rng.integers(6, 40 if nd == 1 else 16, nd)]
    first = {"type": "Input", "shape": [channels] + sizes}
    if rng.random() < 0.3:
        first = {"type": "Input", "shape": sizes + [channels], "order": "hwc"}
    layers = [first]
    shape = tuple([channels] + sizes)
    for _ in range(int(rng.integers(2, 6))):
        for _attempt in range(20):
            pick = rng.random()
            layer = _conv(rng, nd, shape) if pick < 0.45 else _pool(rng, nd, shape) if pick < 0.8 \
                else _activation(rng, shape)
            out = _fits(layer, shape)
            if out is not None:
                layers.append(layer)
                shape = out
                break
    tail = rng.random()
    if tail < 0.3:
        layers.append({"type": "Flatten"})
    if tail < 0.8:
        for _ in range(int(rng.integers(1, 3))):
            dense = {"type": "Dense", "units": int(rng.integers(3, 12))}
            act = str(rng.choice(["none", "relu", "elu", "softmax"]))
            if act != "none":
                dense["activation"] = act
            if rng.random() < 0.2:
                dense["use_bias"] = False
            layers.append(dense)
            shape = (dense["units"],)
    if rng.random() < 0.15 and shape[0] > 1:
        layers.append({"type": "Softmax"})
    for i, layer in enumerate(layers):
        if rng.random() < 0.3:
            layer["name"] = f"L{i}"
    return {"name": f"random{seed}", "layers": layers}


def test_random_architectures_cover_every_layer_type():
    kinds = set()
    for seed in range(N_ARCHS):
        for layer in random_config(seed)["layers"]:
            kinds.add(layer["type"])
            if isinstance(layer.get("activation"), dict):
                kinds.add(layer["activation"]["type"])
    assert kinds == set(LAYER_TYPES)


@pytest.mark.parametrize("seed", range(N_ARCHS))
def test_summary_counts_and_shapes_match_the_weights_and_a_forward_pass(seed):
    config = random_config(seed)
    model = nn.model_from_config(config, seed=seed)
    summary = model.summary()
    chw = model.summary(order="chw")
    assert len(summary.rows) == len(model.layers) == len(config["layers"])

    # Parameter counts: what the summary says equals what the model holds.
    held = sum(a.size for a in model.get_weights().values())
    assert summary.total_params == held == model.num_params
    for row, layer in zip(summary.rows, model.layers):
        assert row.params == sum(a.size for a in layer.params.values()), row
        assert row.name == layer.name
    assert summary.param_bytes == 4 * held

    # Shapes: every row equals the shape a real forward pass produces, in both orders.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3,) + model.input_shape).astype(np.float32)
    outputs = model.activations(x)
    assert len(outputs) == len(summary.rows)
    for row, row_chw, y in zip(summary.rows, chw.rows, outputs):
        assert y.dtype == np.float32
        assert y.shape == (3,) + row_chw.shape, (row_chw, y.shape)
        assert row.shape == order_shape(y.shape[1:], "hwc")
        assert row.size == int(np.prod(y.shape[1:]))
        assert np.isfinite(y).all()
    # predict runs the compiled pass: the same operators; a softmax differs in the last ulp.
    np.testing.assert_allclose(model.predict(x), outputs[-1], rtol=1e-5, atol=1e-6)
    assert summary.activation_bytes == 4 * sum(int(np.prod(y.shape[1:])) for y in outputs)


@pytest.mark.parametrize("seed", range(0, N_ARCHS, 5))
def test_config_round_trip_through_json(seed):
    model = nn.model_from_config(random_config(seed), seed=None)
    again = nn.model_from_config(json.loads(json.dumps(model.get_config())), seed=None)
    assert again.summary().rows == model.summary().rows
    assert again.get_config() == model.get_config()


def test_every_shape_comes_from_cnncore_shapes():
    # A conv with 'same' and stride 2 on an odd size: ceil(15/2) = 8, padding (1, 2).
    conv = nn.Conv2D(4, 4, stride=2, padding="same")
    assert conv.build((3, 15, 15)) == (4, 8, 8)
    pads = shapes.conv_output_shape((15, 15), (4, 4), 2, "same", 1)[0]
    assert conv.pads == pads == ((1, 2), (1, 2))
    pool = nn.MaxPool1D(3, stride=2, ceil_mode=True)
    assert pool.build((2, 10)) == (2, shapes.pool_output_size(10, 3, 2, ceil_mode=True))


@pytest.mark.parametrize("make, match", [
    (lambda: nn.Conv2D(0, 3), r"Conv2D: filters must be >= 1, got 0"),
    (lambda: nn.Conv2D(4.0, 3), r"Conv2D: filters must be a positive integer, got 4.0"),
    (lambda: nn.Conv2D(4, (3, 3, 3)), r"Conv2D: kernel_size must be an int or a sequence of 2"),
    (lambda: nn.Conv1D(4, 3, stride=0), r"Conv1D: stride must be >= 1"),
    (lambda: nn.Conv2D(4, 3, padding="half"), r"Conv2D: padding must be one of"),
    (lambda: nn.Conv2D(6, 3, groups=4), r"Conv2D: groups=4 does not divide filters=6"),
    (lambda: nn.Conv2D(4, 3, activation="tanh"), r"Conv2D: activation must be None, one of"),
    (lambda: nn.Dense(10, activation=3), r"Dense: activation must be None"),
    (lambda: nn.Dense(10, use_bias=1), r"Dense: use_bias must be True or False"),
    (lambda: nn.MaxPool2D(2, name="a/b"),
     r"MaxPool2D: name must be a non-empty string without '/'"),
    (lambda: nn.Dense(3, name=7), r"Dense: name must be a string, got int"),
    (lambda: nn.LeakyReLU("0.1"), r"LeakyReLU: negative_slope must be a real number"),
    (lambda: nn.ELU(float("nan")), r"ELU: alpha must be finite"),
    (lambda: nn.Input((28, 28, 1), order="whc"), r"Input: order must be 'chw' or 'hwc'"),
    (lambda: nn.Input((0, 28)), r"Input: shape must be >= 1"),
    (lambda: nn.Input((1, 2, 3, 4)), r"Input: shape must be a tuple of 1 to 3 sizes"),
])
def test_layer_arguments_are_checked(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize("layers, match", [
    ([nn.Conv2D(4, 3)], r"Sequential: the first layer must be an Input"),
    ([nn.Input((1, 8, 8)), "relu"], r"Sequential: layers\[1\] must be a cnncore.nn layer, got str"),
    ([nn.Input((1, 8, 8)), nn.Conv2D(4, 9, name="big")],
     r"Conv2D 'big': kernel \(dimension 0\) of size 9 with dilation 1 reaches 9, more than the "
     r"padded"),
    ([nn.Input((3, 8, 8)), nn.Conv2D(4, 3, groups=2, name="g")],
     r"Conv2D 'g': groups=2 does not divide the 3 input channels"),
    ([nn.Input((3, 8, 8)), nn.Conv1D(4, 3, name="c1")],
     r"Conv1D 'c1': expects an input of shape \(C, L\), got \(3, 8, 8\)"),
    ([nn.Input((3, 8, 8)), nn.Flatten(), nn.MaxPool2D(2, name="p")],
     r"MaxPool2D 'p': expects an input of shape \(C, H, W\), got \(192,\)"),
    ([nn.Input((3, 8, 8)), nn.MaxPool2D(2, padding=2, name="p")],
     r"MaxPool2D 'p': padding must be at most half the kernel size"),
    ([nn.Input((3, 8)), nn.Input((3, 8))], r"Input 'input_2': Input must be the first layer"),
    ([nn.Input((3, 8)), nn.ReLU(name="a"), nn.ReLU(name="a")], r"two layers are named 'a'"),
])
def test_models_that_do_not_fit_name_the_layer(layers, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nn.Sequential(layers)


@pytest.mark.parametrize("config, match", [
    ([], r"model config: expected a table \(dict\), got list"),
    ({"layers": []}, r"'layers' must be a non-empty list"),
    ({"layers": [{"type": "Input", "shape": [4]}], "optimizer": "sgd"},
     r"unknown key\(s\) optimizer"),
    ({"layers": [{"type": "Input", "shape": [4]}, {"type": "Conv3D"}]},
     r"layers\[1\]: unknown layer type 'Conv3D'; expected one of Input, Conv1D"),
    ({"layers": [{"type": "Input", "shape": [4]}, {"type": "Dense", "unit": 3}]},
     r"layers\[1\] \(Dense\): unknown argument\(s\) unit; Dense takes units, activation"),
    ({"layers": [{"type": "Input", "shape": [4]}, {"type": "Dense", "units": 3,
                                                  "activation": {"type": "Dense"}}]},
     r"layers\[1\] \(Dense\): activation type must be one of ReLU, LeakyReLU, ELU, Softmax"),
    ({"layers": [{"type": "Input", "shape": [4]}, {"type": "Dense", "units": -3}]},
     r"model config: layers\[1\]: Dense: units must be >= 1, got -3"),
    ({"layers": [{"type": "Input", "shape": [4]}, "Dense"]},
     r"layers\[1\]: a layer must be a table \(dict\), got str"),
])
def test_bad_configs_say_where(config, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nn.model_from_config(config)
