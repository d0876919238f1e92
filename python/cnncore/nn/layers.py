"""The layers of :mod:`cnncore.nn`.

Every layer works channels first, like the core and PyTorch: a sample is ``(C, H, W)`` for 2-D
layers, ``(C, L)`` for 1-D layers and ``(features,)`` after ``Flatten`` or ``Dense``; a batch adds a
leading ``N``. A layer learns its input shape when a :class:`~cnncore.nn.Sequential` model is built,
computes its output shape with :mod:`cnncore.shapes` (the one place where sizes and paddings are
computed), and its ``forward`` runs on a float32 batch with the public operators of :mod:`cnncore`.

Parameters are counted as in the lecture: a convolution has ``(k_h*k_w*C/groups + 1) * F``
(without the ``+ 1`` when ``use_bias=False``), a dense layer ``units * inputs + units``.
Multiply-accumulates (MACs) count the products with weights, per sample: ``H_out*W_out*F`` outputs
times ``k_h*k_w*C/groups`` for a convolution, ``units * inputs`` for a dense layer; biases,
pooling, activations and softmax count no MACs.

>>> from cnncore import nn
>>> conv = nn.Conv2D(16, 5, padding='same', activation='relu', name='CONV1')
>>> conv.build((1, 28, 28))
(16, 28, 28)
>>> conv.num_params, conv.macs
(416, 313600)
"""

from __future__ import annotations

import abc
import math
import numbers

import numpy as np

from .. import _activation, _conv, _pool, shapes

__all__ = [
    "Layer",
    "Input",
    "Conv1D",
    "Conv2D",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "SumPool1D",
    "SumPool2D",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Flatten",
    "Dense",
    "ACTIVATIONS",
    "LAYER_TYPES",
]

# The activation names a Conv1D, Conv2D or Dense layer accepts.
ACTIVATIONS = ("relu", "leaky_relu", "elu", "softmax")

_SHAPE_NAMES = {1: "(features,)", 2: "(C, L)", 3: "(C, H, W)"}


def _prod(values) -> int:
    return math.prod(int(v) for v in values)


def _positive_int(value, name: str, where: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be >= 1, got {value}")
    return int(value)


def _bool(value, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


def _real(value, name: str, where: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value}")
    return value


def _fmt_size(values) -> str:
    return "x".join(str(v) for v in values)


class Layer(abc.ABC):
    """Base class of every layer.

    Attributes
    ----------
    name : str or None
        The layer's name, unique within a model (``Sequential`` names unnamed layers
        ``conv2d_1``, ``maxpool2d_1``, ...). Weight files store a layer's arrays under it.
    input_shape, output_shape : tuple of int or None
        Per-sample shapes, channels first; set by :meth:`build`.
    params : dict of str to ndarray
        The layer's float32 arrays (``'weight'``, ``'bias'``) once initialised or loaded; empty
        for layers without parameters.
    """

    kind = "Layer"  # the type name used in configurations and messages

    def __init__(self, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{self.kind}: name must be a string, got {type(name).__name__}")
        if name is not None and (not name or "/" in name):
            raise ValueError(
                f"{self.kind}: name must be a non-empty string without '/', got {name!r}"
            )
        self.name = name
        self.input_shape = None
        self.output_shape = None
        self.params = {}

    @property
    def label(self) -> str:
        """How messages name this layer: its type, and its name when it has one."""
        return self.kind if self.name is None else f"{self.kind} '{self.name}'"

    def build(self, input_shape):
        """Set the input shape (per sample, channels first) and return the output shape.

        Raises ``ValueError`` naming the layer when the input does not fit it.
        """
        input_shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
        self.output_shape = tuple(self._output_shape(input_shape))
        self.input_shape = input_shape
        if self.params:  # a rebuilt layer keeps weights only while they still fit
            want = self.param_shapes()
            if {k: v.shape for k, v in self.params.items()} != want:
                self.params = {}
        return self.output_shape

    @abc.abstractmethod
    def _output_shape(self, input_shape):
        """The output shape for ``input_shape``; raise ValueError when it does not fit."""

    @abc.abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run the layer on a float32 batch ``x`` of shape ``(N,) + input_shape``."""

    def describe(self) -> str:
        """A short description for the summary table, e.g. ``'Conv2D 5x5, 16 filters, same'``."""
        return self.kind

    def get_config(self) -> dict:
        """The layer as a plain dict: ``{'type': kind, 'name': ..., <constructor arguments>}``."""
        config = {"type": self.kind}
        if self.name is not None:
            config["name"] = self.name
        config.update(self._config())
        return config

    def _config(self) -> dict:
        return {}

    def param_shapes(self) -> dict:
        """Shapes of the layer's arrays by name (empty for a layer without parameters).

        Only valid once the layer is built.
        """
        return {}

    @property
    def num_params(self) -> int:
        """Number of parameters (from the shapes: no weights needed)."""
        return sum(_prod(s) for s in self.param_shapes().values())

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample (0 for layers without weights)."""
        return 0

    def init_params(self, rng: np.random.Generator, he: bool) -> None:
        """Draw the layer's weights from ``rng``; biases start at zero.

        ``he=True``: He (Kaiming) normal, standard deviation ``sqrt(2 / fan_in)``, for layers
        followed by a ReLU-family activation. Otherwise Glorot (Xavier) uniform on
        ``[-a, a]``, ``a = sqrt(6 / (fan_in + fan_out))``.
        """
        shapes_ = self.param_shapes()
        if not shapes_:
            return
        wshape = shapes_["weight"]
        receptive = _prod(wshape[2:])
        fan_in, fan_out = wshape[1] * receptive, wshape[0] * receptive
        if he:
            w = rng.standard_normal(wshape) * math.sqrt(2.0 / fan_in)
        else:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, wshape)
        params = {"weight": w.astype(np.float32)}
        if "bias" in shapes_:
            params["bias"] = np.zeros(shapes_["bias"], np.float32)
        self.params = params

    def _weights(self):
        if set(self.params) != set(self.param_shapes()):
            raise ValueError(
                f"{self.label}: the layer has no weights yet; call the model's init_weights() "
                f"or load_weights()"
            )
        return self.params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "type")
        return f"{self.kind}({args})"


# ----------------------------------------------------------------------------------------------
# Input


class Input(Layer):
    """The model's input: the shape of one sample.

    Parameters
    ----------
    shape : tuple of int
        ``(C, H, W)`` for 2-D layers, ``(C, L)`` for 1-D layers, ``(features,)`` for a dense
        network, in the order given by ``order``.
    order : {'chw', 'hwc'}
        ``'chw'`` (default): channels first, as stored. ``'hwc'``: channels last, as the lecture
        writes shapes: ``(H, W, C)`` or ``(L, C)``; the layer converts it to channels first.
    name : str, optional

    Examples
    --------
    >>> from cnncore import nn
    >>> nn.Input((28, 28, 1), order='hwc').shape
    (1, 28, 28)
    """

    kind = "Input"

    def __init__(self, shape, order="chw", name=None):
        super().__init__(name)
        if order not in ("chw", "hwc"):
            raise ValueError(f"{self.label}: order must be 'chw' or 'hwc', got {order!r}")
        if not isinstance(shape, (tuple, list)) or not 1 <= len(shape) <= 3:
            raise ValueError(
                f"{self.label}: shape must be a tuple of 1 to 3 sizes ((features,), (C, L) or "
                f"(C, H, W)), got {shape!r}"
            )
        shape = tuple(_positive_int(s, "shape", self.label) for s in shape)
        if order == "hwc" and len(shape) > 1:
            shape = (shape[-1],) + shape[:-1]
        self.shape = shape

    def _output_shape(self, input_shape):
        if input_shape is not None:
            raise ValueError(f"{self.label}: Input must be the first layer of a model")
        return self.shape

    def forward(self, x):
        return x

    def describe(self):
        return "Input"

    def _config(self):
        return {"shape": list(self.shape)}


# ----------------------------------------------------------------------------------------------
# Activations, as layers of their own or inside Conv1D / Conv2D / Dense


class _Activation(Layer):
    """An element-wise (or per-sample) function with no parameters and no change of shape."""

    he = True  # the weights feeding this activation get He initialisation
    name_as_argument = ""  # the name a Conv2D(..., activation=...) argument gives it

    def _output_shape(self, input_shape):
        return input_shape

    def describe(self):
        return self.kind

    def function_name(self) -> str:
        """The activation's name as a ``Conv2D(..., activation=...)`` argument."""
        return self.name_as_argument


class ReLU(_Activation):
    """``max(0, z)``, element-wise (:func:`cnncore.relu`).

    >>> import numpy as np
    >>> from cnncore import nn
    >>> nn.ReLU().forward(np.float32([[-1, 2]]))
    array([[0., 2.]], dtype=float32)
    """

    kind = "ReLU"
    name_as_argument = "relu"

    def forward(self, x):
        return _activation.relu(x)


class LeakyReLU(_Activation):
    """``z`` for ``z > 0``, ``negative_slope * z`` otherwise (:func:`cnncore.leaky_relu`)."""

    kind = "LeakyReLU"
    name_as_argument = "leaky_relu"

    def __init__(self, negative_slope=0.01, name=None):
        super().__init__(name)
        self.negative_slope = _real(negative_slope, "negative_slope", self.label)

    def forward(self, x):
        return _activation.leaky_relu(x, self.negative_slope)

    def describe(self):
        return f"LeakyReLU({self.negative_slope:g})"

    def _config(self):
        return {"negative_slope": self.negative_slope}


class ELU(_Activation):
    """The standard ELU: ``z`` for ``z > 0``, ``alpha*(exp(z) - 1)`` otherwise.

    As :func:`cnncore.elu` (not the lecture's ``max(alpha*(e^z - 1), z)``, which differs for
    large ``z``).
    """

    kind = "ELU"
    name_as_argument = "elu"

    def __init__(self, alpha=1.0, name=None):
        super().__init__(name)
        self.alpha = _real(alpha, "alpha", self.label)

    def forward(self, x):
        return _activation.elu(x, self.alpha)

    def describe(self):
        return f"ELU({self.alpha:g})"

    def _config(self):
        return {"alpha": self.alpha}


class Softmax(_Activation):
    """Softmax over the channel (or feature) axis of each sample: axis 1 of a batch.

    As ``torch.nn.Softmax(dim=1)``: ``exp(z_i - max z) / sum_j exp(z_j - max z)``, so that large
    inputs do not overflow.

    >>> import numpy as np
    >>> from cnncore import nn
    >>> nn.Softmax().forward(np.float32([[0, 0, np.log(2)]]))
    array([[0.25, 0.25, 0.5 ]], dtype=float32)
    """

    kind = "Softmax"
    name_as_argument = "softmax"
    he = False

    def forward(self, x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        return e



_ACTIVATION_LAYERS = {"relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU, "softmax": Softmax}


def _activation_layer(activation, where: str):
    """``None``, an activation name or an activation layer, as an activation layer (or None)."""
    if activation is None:
        return None
    if isinstance(activation, str):
        if activation not in _ACTIVATION_LAYERS:
            raise ValueError(
                f"{where}: activation must be None, one of {ACTIVATIONS} or an activation layer "
                f"(ReLU(), LeakyReLU(0.2), ELU(1.0), Softmax()), got {activation!r}"
            )
        return _ACTIVATION_LAYERS[activation]()
    if isinstance(activation, _Activation):
        return activation
    raise TypeError(
        f"{where}: activation must be None, one of {ACTIVATIONS} or an activation layer, "
        f"got {type(activation).__name__}"
    )


def _activation_config(activation):
    if activation is None:
        return None
    config = activation.get_config()
    config.pop("name", None)
    if len(config) == 1:  # no parameters: the plain name
        return activation.function_name()
    return config


def _activation_text(activation) -> str:
    """``', relu'``, or with a parameter that is not the default, ``', leaky_relu(0.2)'``."""
    if activation is None:
        return ""
    name = activation.function_name()
    if isinstance(activation, LeakyReLU) and activation.negative_slope != 0.01:
        return f", {name}({activation.negative_slope:g})"
    if isinstance(activation, ELU) and activation.alpha != 1.0:
        return f", {name}({activation.alpha:g})"
    return f", {name}"


# ----------------------------------------------------------------------------------------------
# Convolutions


class _Conv(Layer):
    nd = 0
    _op = None

    def __init__(self, filters, kernel_size, stride=1, padding="valid", dilation=1, groups=1,
                 use_bias=True, activation=None, name=None):
        super().__init__(name)
        where = self.label
        self.filters = _positive_int(filters, "filters", where)
        self.kernel_size = shapes.normalize_tuple(kernel_size, self.nd, "kernel_size", where)
        self.stride = shapes.normalize_tuple(stride, self.nd, "stride", where)
        self.dilation = shapes.normalize_tuple(dilation, self.nd, "dilation", where)
        shapes.normalize_padding(padding, self.nd, where)  # checked now, resolved at build
        self.padding = padding
        self.groups = _positive_int(groups, "groups", where)
        if self.filters % self.groups:
            raise ValueError(
                f"{where}: groups={self.groups} does not divide filters={self.filters}"
            )
        self.use_bias = _bool(use_bias, "use_bias", where)
        self.activation = _activation_layer(activation, where)
        self.pads = None

    def _output_shape(self, input_shape):
        if input_shape is None or len(input_shape) != self.nd + 1:
            raise ValueError(
                f"{self.label}: expects an input of shape {_SHAPE_NAMES[self.nd + 1]}, got "
                f"{input_shape} from the layer before"
            )
        channels = input_shape[0]
        if channels % self.groups:
            raise ValueError(
                f"{self.label}: groups={self.groups} does not divide the {channels} input channels"
            )
        pads, outs, _, _ = shapes.conv_output_shape(
            input_shape[1:], self.kernel_size, self.stride, self.padding, self.dilation,
            fname=self.label,
        )
        self.pads = pads
        return (self.filters,) + tuple(outs)

    def param_shapes(self):
        if self.input_shape is None:
            return {}
        shapes_ = {"weight": (self.filters, self.input_shape[0] // self.groups) + self.kernel_size}
        if self.use_bias:
            shapes_["bias"] = (self.filters,)
        return shapes_

    @property
    def macs(self):
        if self.output_shape is None:
            return 0
        per_output = (self.input_shape[0] // self.groups) * _prod(self.kernel_size)
        return _prod(self.output_shape) * per_output

    def forward(self, x):
        p = self._weights()
        y = type(self)._op(x, p["weight"], p.get("bias"), stride=self.stride, padding=self.pads,
                           dilation=self.dilation, groups=self.groups)
        return y if self.activation is None else self.activation.forward(y)

    def describe(self):
        plural = "s" if self.filters != 1 else ""
        text = f"{self.kind} {_fmt_size(self.kernel_size)}, {self.filters} filter{plural}"
        if isinstance(self.padding, str):
            text += f", {self.padding}"
        elif self.pads is not None and any(p != (0, 0) for p in self.pads):
            text += f", pad {self.padding}"
        if any(s != 1 for s in self.stride):
            text += f", stride {_fmt_size(self.stride)}"
        if any(d != 1 for d in self.dilation):
            text += f", dilation {_fmt_size(self.dilation)}"
        if self.groups != 1:
            text += f", groups {self.groups}"
        return text + _activation_text(self.activation)

    def _config(self):
        def compact(t):
            return t[0] if len(set(t)) == 1 else list(t)

        padding = self.padding
        if isinstance(padding, tuple):
            padding = [list(p) if isinstance(p, tuple) else p for p in padding]
        return {
            "filters": self.filters,
            "kernel_size": compact(self.kernel_size),
            "stride": compact(self.stride),
            "padding": padding,
            "dilation": compact(self.dilation),
            "groups": self.groups,
            "use_bias": self.use_bias,
            "activation": _activation_config(self.activation),
        }

    def init_params(self, rng, he):
        act = self.activation
        super().init_params(rng, he or (act is not None and act.he))


_CONV_DOC = """{nd}-D convolution layer (cross-correlation), with bias and activation.

    One call to :func:`cnncore.conv{nd}d` with the bias, then the activation.

    Parameters
    ----------
    filters : int
        Number of filters ``F`` (output channels).
    kernel_size : int or {nd} int(s)
    stride, dilation : int or {nd} int(s)
    padding : {{'valid', 'same', 'full'}}, int, {nd} int(s) or {nd} (before, after) pair(s)
        As in :func:`cnncore.conv{nd}d` (default ``'valid'``, no padding). ``'same'`` keeps
        ``ceil(size / stride)`` outputs, the odd padding at the end.
    groups : int
        Split the input channels and the filters into ``groups`` groups.
    use_bias : bool
    activation : None, 'relu', 'leaky_relu', 'elu', 'softmax' or an activation layer
        Applied after the bias. ``LeakyReLU(0.2)`` or ``ELU(0.5)`` set the parameter;
        ``'softmax'`` is over the channels.
    name : str, optional

    Input ``{shape_in}``, output ``{shape_out}``; weight ``{wshape}``, bias ``(F,)``: the
    layout of ``torch.nn.Conv{nd}d``.
"""


class Conv1D(_Conv):
    kind = "Conv1D"
    nd = 1
    _op = staticmethod(_conv.conv1d)
    __doc__ = _CONV_DOC.format(nd=1, shape_in="(C, L)", shape_out="(F, L_out)",
                               wshape="(F, C // groups, K)")


class Conv2D(_Conv):
    kind = "Conv2D"
    nd = 2
    _op = staticmethod(_conv.conv2d)
    __doc__ = _CONV_DOC.format(nd=2, shape_in="(C, H, W)", shape_out="(F, H_out, W_out)",
                               wshape="(F, C // groups, KH, KW)") + """
    Examples
    --------
    >>> from cnncore import nn
    >>> conv = nn.Conv2D(32, 5, padding='same', activation='relu')
    >>> conv.build((16, 14, 14))
    (32, 14, 14)
    >>> conv.param_shapes()
    {'weight': (32, 16, 5, 5), 'bias': (32,)}
"""


# ----------------------------------------------------------------------------------------------
# Pooling


class _Pool(Layer):
    nd = 0
    mode = ""
    _op = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, name=None):
        super().__init__(name)
        where = self.label
        self.kernel_size = shapes.normalize_tuple(kernel_size, self.nd, "kernel_size", where)
        self.stride = (None if stride is None
                       else shapes.normalize_tuple(stride, self.nd, "stride", where))
        shapes.normalize_padding(padding, self.nd, where)
        self.padding = padding
        self.ceil_mode = _bool(ceil_mode, "ceil_mode", where)
        self.dilation = (1,) * self.nd

    def _output_shape(self, input_shape):
        if input_shape is None or len(input_shape) != self.nd + 1:
            raise ValueError(
                f"{self.label}: expects an input of shape {_SHAPE_NAMES[self.nd + 1]}, got "
                f"{input_shape} from the layer before"
            )
        _, _, _, self.pads, outs = shapes.pool_output_shape(
            input_shape[1:], self.kernel_size, self.stride, self.padding, self.dilation,
            self.ceil_mode, fname=self.label,
        )
        return (input_shape[0],) + tuple(outs)

    def forward(self, x):
        return type(self)._op(x, self.kernel_size, self.stride, self.padding, *self._extra())

    def _extra(self):
        return (self.ceil_mode,)

    def describe(self):
        text = f"{self.kind} {_fmt_size(self.kernel_size)}"
        stride = self.kernel_size if self.stride is None else self.stride
        if stride != self.kernel_size:
            text += f", stride {_fmt_size(stride)}"
        if isinstance(self.padding, str):
            if self.padding != "valid":
                text += f", {self.padding}"
        elif any(p != (0, 0) for p in self.pads or ()):
            text += f", pad {self.padding}"
        return text

    def _config(self):
        def compact(t):
            return t if t is None else (t[0] if len(set(t)) == 1 else list(t))

        padding = self.padding
        if isinstance(padding, tuple):
            padding = [list(p) if isinstance(p, tuple) else p for p in padding]
        return {"kernel_size": compact(self.kernel_size), "stride": compact(self.stride),
                "padding": padding, "ceil_mode": self.ceil_mode}


_POOL_DOC = """{title} pooling over {nd}-D windows (:func:`cnncore.{op}`).

    Parameters
    ----------
    kernel_size : int or {nd} int(s)
    stride : int or {nd} int(s), optional
        Defaults to ``kernel_size``.
    padding : 'valid', 'same', int, {nd} int(s) or {nd} (before, after) pair(s)
        {pad} An explicit padding is at most ``kernel_size // 2`` per side.
    ceil_mode : bool
        Round the output size up (PyTorch's rule).{extra}
    name : str, optional

    Input ``{shape}``, output the same channels over the pooled size; no parameters.
"""


def _pool_doc(title, nd, op, pad, extra=""):
    return _POOL_DOC.format(title=title, nd=nd, op=op, pad=pad, extra=extra,
                            shape=_SHAPE_NAMES[nd + 1])


class _MaxPool(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 name=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, name)
        self.dilation = shapes.normalize_tuple(dilation, self.nd, "dilation", self.label)

    def _extra(self):
        return (self.dilation, self.ceil_mode)

    def describe(self):
        text = super().describe()
        if any(d != 1 for d in self.dilation):
            text += f", dilation {_fmt_size(self.dilation)}"
        return text

    def _config(self):
        config = super()._config()
        dilation = self.dilation
        config["dilation"] = dilation[0] if len(set(dilation)) == 1 else list(dilation)
        return config


_MAX_EXTRA = "\n    dilation : int or ints\n        Spacing between the window's taps."
_AVG_EXTRA = ("\n    count_include_pad : bool\n        Whether padded zeros count in the divisor "
              "(default True).")


class MaxPool1D(_MaxPool):
    kind, nd = "MaxPool1D", 1
    _op = staticmethod(_pool.max_pool1d)
    __doc__ = _pool_doc("Max", 1, "max_pool1d", "Padding counts as -inf.", _MAX_EXTRA)


class MaxPool2D(_MaxPool):
    kind, nd = "MaxPool2D", 2
    _op = staticmethod(_pool.max_pool2d)
    __doc__ = _pool_doc("Max", 2, "max_pool2d", "Padding counts as -inf.", _MAX_EXTRA) + """
    Examples
    --------
    >>> from cnncore import nn
    >>> nn.MaxPool2D(2).build((16, 28, 28))
    (16, 14, 14)
"""


class _AvgPool(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, name=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, name)
        self.count_include_pad = _bool(count_include_pad, "count_include_pad", self.label)

    def _extra(self):
        return (self.ceil_mode, self.count_include_pad)

    def _config(self):
        config = super()._config()
        config["count_include_pad"] = self.count_include_pad
        return config


class AvgPool1D(_AvgPool):
    kind, nd = "AvgPool1D", 1
    _op = staticmethod(_pool.avg_pool1d)
    __doc__ = _pool_doc("Average", 1, "avg_pool1d", "Zeros are padded.", _AVG_EXTRA)


class AvgPool2D(_AvgPool):
    kind, nd = "AvgPool2D", 2
    _op = staticmethod(_pool.avg_pool2d)
    __doc__ = _pool_doc("Average", 2, "avg_pool2d", "Zeros are padded.", _AVG_EXTRA)


class SumPool1D(_Pool):
    kind, nd = "SumPool1D", 1
    _op = staticmethod(_pool.sum_pool1d)
    __doc__ = _pool_doc("Sum", 1, "sum_pool1d", "Zeros are padded.")


class SumPool2D(_Pool):
    kind, nd = "SumPool2D", 2
    _op = staticmethod(_pool.sum_pool2d)
    __doc__ = _pool_doc("Sum", 2, "sum_pool2d", "Zeros are padded.")


# ----------------------------------------------------------------------------------------------
# Flatten and Dense


class Flatten(Layer):
    """Flatten each sample to ``(features,)``, in C order of its channels-first shape.

    ``(C, H, W)`` flattens as ``c*H*W + h*W + w``, exactly as ``torch.nn.Flatten`` does (and not
    as a channels-last ``(H, W, C)`` framework would).

    >>> from cnncore import nn
    >>> nn.Flatten().build((32, 7, 7))
    (1568,)
    """

    kind = "Flatten"

    def _output_shape(self, input_shape):
        return (_prod(input_shape),)

    def forward(self, x):
        return x.reshape(x.shape[0], self.output_shape[0])

    def describe(self):
        return "Flatten"


class Dense(Layer):
    """Fully connected layer: ``y = x @ weight.T + bias``, then the activation.

    Parameters
    ----------
    units : int
        Number of outputs.
    activation : None, 'relu', 'leaky_relu', 'elu', 'softmax' or an activation layer
    use_bias : bool
    name : str, optional

    Notes
    -----
    ``weight`` has shape ``(units, inputs)`` and ``bias`` ``(units,)``: the layout of
    ``torch.nn.Linear``. An input that is not flat (the output of a convolution or pooling) is
    flattened first, in C order of ``(C, H, W)``, as :class:`Flatten` and ``torch.nn.Flatten``
    do; the layer then has ``units * C*H*W + units`` parameters, the lecture's count.

    Examples
    --------
    >>> from cnncore import nn
    >>> fc = nn.Dense(100, activation='relu')
    >>> fc.build((32, 7, 7)), fc.num_params
    ((100,), 156900)
    """

    kind = "Dense"

    def __init__(self, units, activation=None, use_bias=True, name=None):
        super().__init__(name)
        self.units = _positive_int(units, "units", self.label)
        self.activation = _activation_layer(activation, self.label)
        self.use_bias = _bool(use_bias, "use_bias", self.label)

    def _output_shape(self, input_shape):
        if input_shape is None:
            raise ValueError(f"{self.label}: needs an input; start the model with Input(shape)")
        return (self.units,)

    def param_shapes(self):
        if self.input_shape is None:
            return {}
        shapes_ = {"weight": (self.units, _prod(self.input_shape))}
        if self.use_bias:
            shapes_["bias"] = (self.units,)
        return shapes_

    @property
    def macs(self):
        return 0 if self.input_shape is None else self.units * _prod(self.input_shape)

    def forward(self, x):
        # A 1x1 convolution of one "image" whose pixels are the samples: the core's GEMM kernel,
        # and exactly the arithmetic of the compiled forward pass (nn._engine).
        p = self._weights()
        w = p["weight"]
        xt = np.ascontiguousarray(x.reshape(x.shape[0], w.shape[1]).T)[None]
        y = _conv.conv1d(xt, w[:, :, None], p.get("bias"))[0].T
        y = np.ascontiguousarray(y)
        return y if self.activation is None else self.activation.forward(y)

    def describe(self):
        return f"Dense {self.units}" + _activation_text(self.activation)

    def _config(self):
        return {"units": self.units, "activation": _activation_config(self.activation),
                "use_bias": self.use_bias}

    def init_params(self, rng, he):
        act = self.activation
        super().init_params(rng, he or (act is not None and act.he))


# Every layer type by its configuration name.
LAYER_TYPES = {
    cls.kind: cls
    for cls in (Input, Conv1D, Conv2D, MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D, SumPool1D,
                SumPool2D, ReLU, LeakyReLU, ELU, Softmax, Flatten, Dense)
}
