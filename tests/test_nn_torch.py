"""cnncore.nn against PyTorch: the same random networks, PyTorch's weights imported with
``from_torch``, the same outputs at batch 1, 7 and 64; and the import's checks.

The weights are drawn in PyTorch (He-scaled, biases spread over [-0.5, 0.5], so that every network's
output still depends on its input: a test checks it), then imported.

The PyTorch networks are built here from the same configurations, independently of cnncore's
layers: paddings come from ``cnncore.shapes`` (the definition), an asymmetric one becomes an
explicit ``ZeroPad`` / ``ConstantPad`` module, and sum pooling is ``avg_pool2d`` with
``divisor_override=1``. Skipped when PyTorch is not installed (the error checks that need no
PyTorch always run).
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncore import nn, shapes
from cnncore.nn.layers import LAYER_TYPES

from test_nn_shapes import random_config

N_TORCH = 24
BATCHES = (1, 7, 64)


def _tuple(v, n):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


def torch_net(torch, config):
    """The network of ``config`` as a ``torch.nn.Sequential`` (PyTorch's own initial weights)."""
    tnn, F = torch.nn, torch.nn.functional

    class SumPool(tnn.Module):
        def __init__(self, nd, kernel, stride, padding, ceil_mode):
            super().__init__()
            self.nd, self.kernel, self.stride = nd, kernel, stride
            self.padding, self.ceil_mode = padding, ceil_mode

        def forward(self, x):
            if self.nd == 2:
                return F.avg_pool2d(x, self.kernel, self.stride, self.padding, self.ceil_mode,
                                    True, divisor_override=1)
            y = F.avg_pool2d(x.unsqueeze(2), (1,) + self.kernel, (1,) + self.stride,
                             (0,) + self.padding, self.ceil_mode, True, divisor_override=1)
            return y.squeeze(2)

    def pad_module(nd, pads, value):
        flat = []
        for before, after in reversed(pads):  # the last dimension first
            flat += [before, after]
        return (tnn.ConstantPad1d if nd == 1 else tnn.ConstantPad2d)(tuple(flat), value)

    def activation(spec):
        if spec is None:
            return []
        if isinstance(spec, dict):
            kind = spec["type"]
            if kind == "LeakyReLU":
                return [tnn.LeakyReLU(spec.get("negative_slope", 0.01))]
            if kind == "ELU":
                return [tnn.ELU(spec.get("alpha", 1.0))]
            spec = kind.lower()
        return [{"relu": tnn.ReLU(), "leaky_relu": tnn.LeakyReLU(0.01), "elu": tnn.ELU(),
                 "softmax": tnn.Softmax(dim=1)}[spec]]

    modules, shape = [], None
    for layer in config["layers"]:
        kind = layer["type"]
        if kind == "Input":
            shape = tuple(layer["shape"])
            if layer.get("order") == "hwc" and len(shape) > 1:
                shape = shape[-1:] + shape[:-1]
            continue
        nd = len(shape) - 1
        new = []
        if kind.startswith("Conv"):
            kernel = _tuple(layer["kernel_size"], nd)
            stride = _tuple(layer.get("stride", 1), nd)
            dilation = _tuple(layer.get("dilation", 1), nd)
            padding = layer.get("padding", "valid")
            pads = shapes.conv_output_shape(shape[1:], kernel, stride, padding, dilation)[0]
            if any(b != a for b, a in pads):
                new.append(pad_module(nd, pads, 0.0))
                padding = 0
            else:
                padding = tuple(b for b, _ in pads)
            conv = tnn.Conv1d if nd == 1 else tnn.Conv2d
            new.append(conv(shape[0], layer["filters"], kernel, stride, padding, dilation,
                            layer.get("groups", 1), layer.get("use_bias", True)))
            new += activation(layer.get("activation"))
        elif "Pool" in kind:
            kernel = _tuple(layer["kernel_size"], nd)
            stride = _tuple(layer.get("stride", kernel), nd)
            padding = layer.get("padding", 0)
            ceil_mode = layer.get("ceil_mode", False)
            dilation = _tuple(layer.get("dilation", 1), nd)
            pads = shapes.pool_output_shape(shape[1:], kernel, stride, padding, dilation,
                                            ceil_mode)[3]
            if padding == "same":
                new.append(pad_module(nd, pads, float("-inf") if kind.startswith("Max") else 0.0))
                pad = (0,) * nd
            else:
                pad = tuple(b for b, _ in pads)
            if kind.startswith("Max"):
                new.append((tnn.MaxPool1d if nd == 1 else tnn.MaxPool2d)(
                    kernel, stride, pad, dilation, ceil_mode=ceil_mode))
            elif kind.startswith("Avg"):
                new.append((tnn.AvgPool1d if nd == 1 else tnn.AvgPool2d)(
                    kernel, stride, pad, ceil_mode, layer.get("count_include_pad", True)))
            else:
                new.append(SumPool(nd, kernel, stride, pad, ceil_mode))
        elif kind in ("ReLU", "LeakyReLU", "ELU", "Softmax"):
            new += activation(dict(layer) if kind in ("LeakyReLU", "ELU") else kind.lower())
        elif kind == "Flatten":
            new.append(tnn.Flatten())
        elif kind == "Dense":
            if len(shape) > 1:
                new.append(tnn.Flatten())
            new.append(tnn.Linear(int(np.prod(shape)), layer["units"], layer.get("use_bias", True)))
            new += activation(layer.get("activation"))
        modules += new
        with torch.no_grad():
            shape = tuple(tnn.Sequential(*new)(torch.zeros((1,) + shape)).shape[1:])
    return tnn.Sequential(*modules).eval()


def test_the_torch_architectures_cover_every_layer_type_and_conv1d():
    kinds, dims = set(), set()
    for seed in range(N_TORCH):
        for layer in random_config(seed)["layers"]:
            kinds.add(layer["type"])
            if isinstance(layer.get("activation"), dict):
                kinds.add(layer["activation"]["type"])
            if layer["type"].startswith("Conv"):
                dims.add(layer["type"])
    assert kinds == set(LAYER_TYPES)
    assert dims == {"Conv1D", "Conv2D"}


@pytest.mark.parametrize("seed", range(N_TORCH))
def test_predict_equals_pytorch_with_imported_weights(torch, seed):
    config = random_config(seed)
    torch.manual_seed(seed)
    tnet = torch_net(torch, config)
    with torch.no_grad():  # He-scaled weights and spread biases: signals stay O(1) to the end
        for name, p in tnet.named_parameters():
            if name.endswith("weight"):
                p.normal_(0.0, (2.0 / p[0].numel()) ** 0.5)
            else:
                p.uniform_(-0.5, 0.5)
    model = nn.model_from_config(config, seed=None)
    nn.from_torch(tnet if seed % 2 else tnet.state_dict(), model)
    # predict runs the compiled forward pass (nn._engine) for every architecture generated here.
    assert model._engine() is not None, f"seed {seed}: no compiled pass"
    rng = np.random.default_rng(seed)
    for batch in BATCHES:
        x = rng.standard_normal((batch,) + model.input_shape).astype(np.float32)
        y = model.predict(x)
        with torch.no_grad():
            t = tnet(torch.from_numpy(x)).numpy()
        assert y.shape == t.shape and y.dtype == np.float32
        if batch == 64:  # the network computes something that depends on its input
            assert float(t.std(axis=0).max()) > 1e-3, f"seed {seed}: a degenerate network"
        scale = max(1.0, float(np.abs(t).max()))
        np.testing.assert_allclose(y, t, rtol=1e-4, atol=2e-5 * scale,
                                   err_msg=f"seed {seed}, batch {batch}")


def test_the_shipped_weights_give_pytorchs_probabilities(torch):
    model = nn.lecture_model()
    tnn = torch.nn
    tnet = tnn.Sequential(
        tnn.Conv2d(1, 16, 5, padding="same"), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 5, padding="same"), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(1568, 100), tnn.ReLU(), tnn.Linear(100, 10), tnn.Softmax(dim=1),
    ).eval()
    weights = list(model.get_weights().values())
    tnet.load_state_dict({k: torch.from_numpy(w) for k, w in zip(tnet.state_dict(), weights)})
    images, labels = nn.load_digits()
    x = images[:256].astype(np.float32) / 255
    with torch.no_grad():
        t = tnet(torch.from_numpy(x[:, None])).numpy()
    np.testing.assert_allclose(model.predict(x), t, rtol=1e-4, atol=1e-6)
    # And the import goes the other way to the same model.
    again = nn.from_torch(tnet, nn.lecture_model(pretrained=False))
    for key, w in model.get_weights().items():
        np.testing.assert_array_equal(again.get_weights()[key], w)


def _dense_model(use_bias=True):
    return nn.Sequential([nn.Input((1, 6, 6)), nn.Conv2D(2, 3, name="c"), nn.Flatten(),
                          nn.Dense(3, use_bias=use_bias, name="fc")], seed=None)


def _state(**change):
    state = {"0.weight": np.ones((2, 1, 3, 3)), "0.bias": np.zeros(2),
             "3.weight": np.ones((3, 32)), "3.bias": np.zeros(3)}
    state.update(change)
    return {k: v for k, v in state.items() if v is not None}


def test_from_torch_takes_a_state_dict_of_arrays_without_pytorch():
    model = nn.from_torch(_state(), _dense_model())
    assert model.predict(np.ones((1, 6, 6))).tolist() == [[288.0, 288.0, 288.0]]


@pytest.mark.parametrize("state, model, match", [
    (_state(**{"3.weight": None, "3.bias": None}), _dense_model(),
     r"from_torch: the PyTorch model has 1 layer\(s\) with weights \('0'\) but the cnncore model "
     r"has 2 \(Conv2D 'c', Dense 'fc'\)"),
    (_state(**{"3.weight": np.ones((3, 31))}), _dense_model(),
     r"from_torch: torch '3.weight' has shape \(3, 31\) but Dense 'fc' needs \(3, 32\)"),
    (_state(**{"0.weight": np.ones((2, 1, 3))}), _dense_model(),
     r"from_torch: torch '0.weight' has shape \(2, 1, 3\), which is not a Conv2d weight as "
     r"Conv2D 'c' needs"),
    (_state(), _dense_model(use_bias=False),
     r"from_torch: torch '3' has bias but Dense 'fc' does not use one \(use_bias=False\)"),
    (_state(**{"1.running_mean": np.zeros(2)}), _dense_model(),
     r"from_torch: torch entry '1.running_mean' has no cnncore counterpart"),
    (_state(**{"3.weight": None}), _dense_model(), r"torch entry '3.bias' has no weight beside it"),
    (_state(**{"0.bias": np.array([0.0, np.nan])}), _dense_model(),
     r"set_weights: array 'c/bias' for Conv2D 'c' holds NaN or infinity"),
])
def test_from_torch_refuses_a_different_architecture(state, model, match):
    with pytest.raises(ValueError, match=match):
        nn.from_torch(state, model)


def test_from_torch_refuses_what_is_not_a_model():
    with pytest.raises(TypeError, match=r"from_torch: source must be a torch.nn.Module or a "
                                        r"state_dict mapping, got list"):
        nn.from_torch([1, 2], _dense_model())


def test_from_torch_checks_module_hyperparameters(torch):
    tnn = torch.nn
    model = _dense_model()
    strided = tnn.Sequential(tnn.Conv2d(1, 2, 3, stride=2), tnn.Flatten(), tnn.Linear(8, 3))
    with pytest.raises(ValueError, match=r"from_torch: torch module '0' has stride=\(2, 2\) but "
                                         r"Conv2D 'c' has stride=\(1, 1\)"):
        nn.from_torch(strided, nn.Sequential([nn.Input((1, 6, 6)), nn.Conv2D(2, 3, name="c"),
                                              nn.Dense(3)], seed=None))
    swapped = tnn.Sequential(tnn.Linear(36, 32), tnn.Linear(32, 3))
    with pytest.raises(ValueError, match=r"from_torch: torch module '0' is a Linear but Conv2D 'c' "
                                         r"needs a Conv2d"):
        nn.from_torch(swapped, model)
    bn = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.BatchNorm2d(2), tnn.Flatten(), tnn.Linear(32, 3))
    with pytest.raises(ValueError, match=r"torch entry '1.running_mean' has no cnncore "
                                         r"counterpart"):
        nn.from_torch(bn, model)
