"""The whole forward pass of a Sequential model in one call to the C++ core.

``build(model)`` turns the layers into a ``cnncore._core.Engine``: the weights are copied and
packed once, the activations of a conv or dense layer run right after it on the same buffer, the
intermediate buffers are reused from call to call, and the GIL is released for the whole pass.
Every step is one of the core's operators, so the results are those of the layer-by-layer path
(the dense layers run as 1x1 convolutions over the batch, in float32). A model with a layer the
engine does not know returns None: ``predict`` then runs layer by layer.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from . import layers as L


def _act(engine, act, channels):
    """Append activation layer ``act`` (or nothing for None); False when unknown. ``channels``:
    the channel (or feature) count of the samples it acts on, for a softmax."""
    if act is None:
        return True
    if isinstance(act, L.ReLU):
        engine.add_activation("relu", 0.0)
    elif isinstance(act, L.LeakyReLU):
        engine.add_activation("leaky_relu", float(act.negative_slope))
    elif isinstance(act, L.ELU):
        engine.add_activation("elu", float(act.alpha))
    elif isinstance(act, L.Softmax):
        engine.add_softmax(channels)
    else:
        return False
    return True


def _spatial3(values, nd, fill):
    return (fill,) * (3 - nd) + tuple(values)


def build(model):
    """A ``_core.Engine`` running ``model`` (built, with weights), or None."""
    shape = model.input_shape
    size = int(np.prod(shape))
    engine = _core.Engine(size)
    for layer in model.layers:
        if isinstance(layer, (L.Input, L.Flatten)):
            continue
        if isinstance(layer, L._Conv):
            nd = layer.nd
            w = np.ascontiguousarray(layer.params["weight"], dtype=np.float32)
            w = w.reshape(w.shape[:2] + (1,) * (3 - nd) + w.shape[2:])
            b = layer.params.get("bias")
            b = None if b is None else np.ascontiguousarray(b, dtype=np.float32)
            outs = layer.output_shape[1:]
            kernel = layer.kernel_size
            stride = tuple(1 if o == 1 else s for o, s in zip(outs, layer.stride))
            dil = tuple(1 if k == 1 else d for k, d in zip(kernel, layer.dilation))
            engine.add_conv(w, b, layer.input_shape[0], _spatial3(layer.input_shape[1:], nd, 1),
                            _spatial3(outs, nd, 1), _spatial3(stride, nd, 1),
                            _spatial3((p[0] for p in layer.pads), nd, 0), _spatial3(dil, nd, 1),
                            layer.groups)
            if not _act(engine, layer.activation, layer.output_shape[0]):
                return None
        elif isinstance(layer, L._Pool):
            nd = layer.nd
            if isinstance(layer, L._MaxPool):
                kind = "max"
            elif isinstance(layer, L._AvgPool):
                kind = "avg"
            elif isinstance(layer, (L.SumPool1D, L.SumPool2D)):
                kind = "sum"
            else:
                return None
            kernel = layer.kernel_size
            stride = kernel if layer.stride is None else layer.stride
            outs = layer.output_shape[1:]
            stride = tuple(1 if o == 1 else s for o, s in zip(outs, stride))
            dil = tuple(1 if k == 1 else d for k, d in zip(kernel, layer.dilation))
            engine.add_pool(kind, layer.input_shape[0], _spatial3(layer.input_shape[1:], nd, 1),
                            _spatial3(outs, nd, 1), _spatial3(kernel, nd, 1),
                            _spatial3(stride, nd, 1), _spatial3((p[0] for p in layer.pads), nd, 0),
                            _spatial3((p[1] for p in layer.pads), nd, 0), _spatial3(dil, nd, 1),
                            bool(getattr(layer, "count_include_pad", True)))
        elif isinstance(layer, L.Dense):
            w = np.ascontiguousarray(layer.params["weight"], dtype=np.float32)
            b = layer.params.get("bias")
            b = None if b is None else np.ascontiguousarray(b, dtype=np.float32)
            engine.add_dense(w, b)
            if not _act(engine, layer.activation, layer.output_shape[0]):
                return None
        elif isinstance(layer, L._Activation):
            if not _act(engine, layer, layer.input_shape[0]):
                return None
        else:
            return None
    if engine.output_size != int(np.prod(model.output_shape)):
        return None
    return engine
