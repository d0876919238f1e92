"""Weights from PyTorch: ``from_torch(module_or_state_dict, model)``.

PyTorch is optional: this module never imports it. It reads a ``torch.nn.Module``'s
``state_dict()`` (or a state_dict given directly: a mapping of names to tensors or arrays) and
copies each ``weight`` and ``bias`` into the cnncore layer at the same position among the layers
that hold weights.

The layout translation is the identity, by design, so nothing is transposed or reordered:

=============  ==============================  ===============================================
PyTorch        cnncore                         layout (both)
=============  ==============================  ===============================================
``Conv1d``     :class:`~cnncore.nn.Conv1D`     weight ``(F, C/groups, K)``, bias ``(F,)``
``Conv2d``     :class:`~cnncore.nn.Conv2D`     weight ``(F, C/groups, KH, KW)``, bias ``(F,)``
``Linear``     :class:`~cnncore.nn.Dense`      weight ``(out, in)``, bias ``(out,)``;
                                               ``y = x @ weight.T + bias``
``Flatten``    :class:`~cnncore.nn.Flatten`    ``(C, H, W)`` flattened in C order, so
               (or implicit in ``Dense``)      ``Linear``'s columns line up as they are
=============  ==============================  ===============================================

Layers without weights (activations, pooling, flatten, padding) are not matched one by one: the
architecture they describe is the cnncore model's. What is checked: the PyTorch model holds exactly
as many weighted layers as the cnncore model, each of the matching kind (by the weight's number of
dimensions and, for a module, its class), with the same shapes and the same use of a bias, and,
for a module, the same stride, dilation and groups. Anything else with parameters (batch
normalisation, embeddings, ...) is refused.

A channels-last framework stores things differently: a Keras ``Conv2D`` kernel
``(KH, KW, C, F)`` becomes ``kernel.transpose(3, 2, 0, 1)``, a ``Dense`` kernel ``(in, out)``
becomes ``kernel.T``, and the first ``Dense`` after a ``Flatten`` of an ``(H, W, C)`` map needs
its input columns permuted from ``(H, W, C)`` order to ``(C, H, W)`` order. Give such arrays to
:meth:`Sequential.set_weights` after translating them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .layers import Conv1D, Conv2D, Dense

__all__ = ["from_torch"]

_TORCH_CLASS = {Conv1D: "Conv1d", Conv2D: "Conv2d", Dense: "Linear"}
_WEIGHT_NDIM = {Conv1D: 3, Conv2D: 4, Dense: 2}


def _to_numpy(value, key):
    if hasattr(value, "detach"):  # a torch.Tensor: to float32 on the CPU (bfloat16 included)
        return value.detach().cpu().float().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"from_torch: entry '{key}' is not an array ({exc})") from None


def _check_module(sub, prefix, layer):
    want = _TORCH_CLASS[type(layer)]
    got = type(sub).__name__
    if got != want:
        raise ValueError(
            f"from_torch: torch module '{prefix}' is a {got} but {layer.label} needs a {want}"
        )
    if isinstance(layer, (Conv1D, Conv2D)):
        for attr in ("stride", "dilation", "groups"):
            theirs = getattr(sub, attr)
            theirs = tuple(theirs) if isinstance(theirs, (tuple, list)) else theirs
            ours = getattr(layer, attr)
            if theirs != ours:
                raise ValueError(
                    f"from_torch: torch module '{prefix}' has {attr}={theirs} but {layer.label} "
                    f"has {attr}={ours}"
                )


def from_torch(source, model):
    """Copy the weights of a PyTorch model of the same architecture into ``model``.

    Parameters
    ----------
    source : torch.nn.Module or mapping
        A module (usually a ``torch.nn.Sequential``) or its ``state_dict()``: a mapping of
        ``'<prefix>.weight'`` / ``'<prefix>.bias'`` to tensors or arrays, in layer order.
    model : Sequential
        The cnncore model to fill; it is returned.

    Returns
    -------
    Sequential
        ``model``, with float32 copies of the weights.

    Raises
    ------
    ValueError
        When the two architectures do not match: a different number of weighted layers, a
        different kind, shape, bias, stride, dilation or groups; or parameters cnncore has no
        layer for. The message names the PyTorch entry and the cnncore layer.

    Examples
    --------
    >>> import numpy as np
    >>> from cnncore import nn
    >>> model = nn.Sequential([nn.Input((4,)), nn.Dense(2)], seed=None)
    >>> state = {'0.weight': np.ones((2, 4)), '0.bias': np.array([0.5, -0.5])}
    >>> nn.from_torch(state, model).predict(np.ones((1, 4)))
    array([[4.5, 3.5]], dtype=float32)
    """
    module = None
    if hasattr(source, "state_dict") and callable(source.state_dict):
        module = source
        state = source.state_dict()
    elif isinstance(source, Mapping):
        state = source
    else:
        raise TypeError(
            f"from_torch: source must be a torch.nn.Module or a state_dict mapping, "
            f"got {type(source).__name__}"
        )
    groups = {}
    for key, value in state.items():
        prefix, _, param = str(key).rpartition(".")
        if param not in ("weight", "bias"):
            raise ValueError(
                f"from_torch: torch entry '{key}' has no cnncore counterpart (only the weight and "
                f"bias of Conv1d, Conv2d and Linear layers are imported)"
            )
        groups.setdefault(prefix, {})[param] = _to_numpy(value, key)
    for prefix, params in groups.items():
        if "weight" not in params:
            raise ValueError(f"from_torch: torch entry '{prefix}.bias' has no weight beside it")

    layers = [layer for layer in model.layers if layer.param_shapes()]
    if len(groups) != len(layers):
        raise ValueError(
            f"from_torch: the PyTorch model has {len(groups)} layer(s) with weights "
            f"({', '.join(repr(p) for p in groups) or 'none'}) but the cnncore model has "
            f"{len(layers)} ({', '.join(layer.label for layer in layers) or 'none'})"
        )
    weights = {}
    for (prefix, params), layer in zip(groups.items(), layers):
        if module is not None:
            _check_module(module.get_submodule(prefix) if prefix else module, prefix, layer)
        expected = layer.param_shapes()
        w = params["weight"]
        if w.ndim != _WEIGHT_NDIM[type(layer)]:
            raise ValueError(
                f"from_torch: torch '{prefix}.weight' has shape {w.shape}, which is not a "
                f"{_TORCH_CLASS[type(layer)]} weight as {layer.label} needs"
            )
        if set(params) != set(expected):
            have = "has" if "bias" in params else "has no"
            need = "uses" if "bias" in expected else "does not use"
            raise ValueError(
                f"from_torch: torch '{prefix}' {have} bias but {layer.label} {need} one "
                f"(use_bias={layer.use_bias})"
            )
        for param, arr in params.items():
            if arr.shape != expected[param]:
                raise ValueError(
                    f"from_torch: torch '{prefix}.{param}' has shape {tuple(arr.shape)} but "
                    f"{layer.label} needs {expected[param]}"
                )
            weights[f"{layer.name}/{param}"] = arr
    model.set_weights(weights)
    return model
