"""Models described as data: a dict, a JSON file or a TOML file.

The format is the one :meth:`Sequential.get_config` writes: a ``name`` and a list of ``layers``,
each a table with its ``type`` (a layer class name: ``Input``, ``Conv1D``, ``Conv2D``,
``MaxPool1D``, ``MaxPool2D``, ``AvgPool1D``, ``AvgPool2D``, ``SumPool1D``, ``SumPool2D``, ``ReLU``,
``LeakyReLU``, ``ELU``, ``Softmax``, ``Flatten``, ``Dense``), an optional ``name``, and that class's
constructor arguments by name. Tuples are lists; an ``activation`` is a name (``"relu"``) or a
table (``{"type": "LeakyReLU", "negative_slope": 0.2}``); an argument left out takes its default.
The lecture's model, in JSON (``examples/lecture_model.json``)::

    {
      "name": "lecture",
      "layers": [
        {"type": "Input", "name": "INPUT", "shape": [28, 28, 1], "order": "hwc"},
        {"type": "Conv2D", "name": "CONV1", "filters": 16, "kernel_size": 5,
         "padding": "same", "activation": "relu"},
        {"type": "MaxPool2D", "name": "POOL1", "kernel_size": 2},
        {"type": "Conv2D", "name": "CONV2", "filters": 32, "kernel_size": 5,
         "padding": "same", "activation": "relu"},
        {"type": "MaxPool2D", "name": "POOL2", "kernel_size": 2},
        {"type": "Dense", "name": "FC3", "units": 100, "activation": "relu"},
        {"type": "Dense", "name": "FC4", "units": 10, "activation": "softmax"}
      ]
    }

and in TOML (read with :mod:`tomllib`, Python 3.11 and later)::

    name = "lecture"

    [[layers]]
    type = "Input"
    shape = [28, 28, 1]
    order = "hwc"

    [[layers]]
    type = "Conv2D"
    name = "CONV1"
    filters = 16
    kernel_size = 5
    padding = "same"
    activation = "relu"

    # ... and so on, one [[layers]] table per layer.

Every mistake (an unknown type or argument, a wrong value, a layer that does not fit its input, a
file that is not JSON or TOML) raises one ``ValueError`` or ``TypeError`` naming the place.

>>> from cnncore.nn.config import model_from_config
>>> model = model_from_config({"layers": [
...     {"type": "Input", "shape": [3, 32, 32]},
...     {"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu"},
...     {"type": "Dense", "units": 10}]}, seed=None)
>>> model.output_shape, model.num_params
((10,), 72234)
"""

from __future__ import annotations

import inspect
import json
import os

from .layers import LAYER_TYPES, ELU, LeakyReLU, ReLU, Softmax
from .model import Sequential

__all__ = ["model_from_config", "layer_from_config", "load_model_file"]

_ACTIVATION_TYPES = {cls.kind: cls for cls in (ReLU, LeakyReLU, ELU, Softmax)}


def _arguments(cls):
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p != "self"]


def layer_from_config(config, where: str = "layer"):
    """One layer from its table (``{'type': ..., <arguments>}``)."""
    if not isinstance(config, dict):
        raise TypeError(f"{where}: a layer must be a table (dict), got {type(config).__name__}")
    kind = config.get("type")
    if kind not in LAYER_TYPES:
        raise ValueError(
            f"{where}: unknown layer type {kind!r}; expected one of {', '.join(LAYER_TYPES)}"
        )
    cls = LAYER_TYPES[kind]
    kwargs = {k: v for k, v in config.items() if k != "type"}
    accepted = _arguments(cls)
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ValueError(
            f"{where} ({kind}): unknown argument(s) {', '.join(unknown)}; {kind} takes "
            f"{', '.join(accepted)}"
        )
    activation = kwargs.get("activation")
    if isinstance(activation, dict):
        if activation.get("type") not in _ACTIVATION_TYPES:
            raise ValueError(
                f"{where} ({kind}): activation type must be one of "
                f"{', '.join(_ACTIVATION_TYPES)}, got {activation.get('type')!r}"
            )
        kwargs["activation"] = layer_from_config(activation, f"{where} activation")
    for key in ("shape", "kernel_size", "stride", "dilation", "padding"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = _tuples(kwargs[key])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def _tuples(value):
    return tuple(_tuples(v) if isinstance(v, list) else v for v in value)


def model_from_config(config, seed=0) -> Sequential:
    """A :class:`Sequential` model from ``{'name': ..., 'layers': [...]}`` (see the module)."""
    if not isinstance(config, dict):
        raise TypeError(f"model config: expected a table (dict), got {type(config).__name__}")
    unknown = [k for k in config if k not in ("name", "layers")]
    if unknown:
        raise ValueError(
            f"model config: unknown key(s) {', '.join(unknown)}; expected name, layers"
        )
    layers = config.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError("model config: 'layers' must be a non-empty list of layer tables")
    built = [layer_from_config(item, f"model config: layers[{i}]") for i, item in enumerate(layers)]
    return Sequential(built, name=config.get("name", "model"), seed=seed)


def load_model_file(path, seed=None) -> Sequential:
    """A model from a ``.json`` or ``.toml`` file (TOML needs Python 3.11+: :mod:`tomllib`).

    The file's extension chooses the format; any other extension is read as JSON.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if path.lower().endswith(".toml"):
        try:
            import tomllib
        except ImportError:
            raise ValueError(
                f"{path}: reading TOML needs Python 3.11 or later (tomllib); use JSON"
            ) from None
        try:
            config = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
    else:
        try:
            config = json.loads(data.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
    try:
        return model_from_config(config, seed=seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{path}: {exc}") from None
