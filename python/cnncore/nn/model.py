"""``Sequential``: a stack of layers, its table, its weights and its forward pass."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _common
from . import _engine as _engine_mod
from . import summary as _summary
from . import weights as _weights
from .layers import Input, Layer, _Activation

__all__ = ["Sequential"]

# predict's batches when batch_size is None: at most this many samples, and at most this much
# working memory (but always at least one sample).
DEFAULT_BATCH = 1024
DEFAULT_BATCH_BYTES = 2**30


class Sequential:
    """A stack of layers, built and shape-checked when it is created.

    Parameters
    ----------
    layers : sequence of Layer
        The first one is an :class:`~cnncore.nn.Input`. Every layer's output shape is computed
        now, with :mod:`cnncore.shapes`; a layer that does not fit its input raises ``ValueError``
        naming it. Unnamed layers are named after their type (``conv2d_1``, ``dense_2``, ...).
    name : str
        The model's name (shown in the summary).
    seed : int or None
        Initialise the weights with :meth:`init_weights` ``(seed)``; ``None`` leaves the model
        without weights (its summary still works; load or initialise them before running it).

    Notes
    -----
    Everything is channels first, as in the core and in PyTorch: a sample is ``(C, H, W)``,
    ``(C, L)`` or ``(features,)``. :meth:`predict` computes in float32, layer by layer, each
    convolution with its bias in one :func:`cnncore.conv2d` (or ``conv1d``) call, then its
    activation.

    Examples
    --------
    >>> import numpy as np
    >>> from cnncore import nn
    >>> model = nn.Sequential([
    ...     nn.Input((28, 28, 1), order='hwc'),
    ...     nn.Conv2D(8, 3, padding='same', activation='relu'),
    ...     nn.MaxPool2D(2),
    ...     nn.Dense(10, activation='softmax'),
    ... ], name='tiny', seed=0)
    >>> [row.shape for row in model.summary().rows]
    [(28, 28, 1), (28, 28, 8), (14, 14, 8), (10,)]
    >>> model.summary().total_params
    15770
    >>> model.predict(np.zeros((2, 28, 28))).shape
    (2, 10)
    """

    def __init__(self, layers, *, name: str = "model", seed=0):
        if not isinstance(name, str) or not name:
            raise ValueError(f"Sequential: name must be a non-empty string, got {name!r}")
        self.name = name
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Sequential: layers[{i}] must be a cnncore.nn layer, "
                    f"got {type(layer).__name__}"
                )
        if not layers or not isinstance(layers[0], Input):
            raise ValueError("Sequential: the first layer must be an Input(shape)")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("Sequential: a layer object appears twice; create one per position")
        self.layers = layers
        self._name_layers()
        shape = None
        for layer in layers:
            shape = layer.build(shape)
        if seed is not None:
            self.init_weights(seed)

    def _name_layers(self):
        taken = {layer.name for layer in self.layers if layer.name is not None}
        counts = {}
        for layer in self.layers:
            if layer.name is None:
                base = layer.kind.lower()
                while True:
                    counts[base] = counts.get(base, 0) + 1
                    candidate = f"{base}_{counts[base]}"
                    if candidate not in taken:
                        break
                layer.name = candidate
                taken.add(candidate)
        seen = set()
        for layer in self.layers:
            if layer.name in seen:
                raise ValueError(
                    f"Sequential: two layers are named {layer.name!r}; names must be unique"
                )
            seen.add(layer.name)

    # -- description ------------------------------------------------------------------------

    @property
    def input_shape(self):
        """The shape of one input sample, channels first."""
        return self.layers[0].output_shape

    @property
    def output_shape(self):
        """The shape of one output sample."""
        return self.layers[-1].output_shape

    def summary(self, order: str = "hwc") -> _summary.Summary:
        """The complexity table: per layer, shape, size, parameters and MACs; and the totals.

        Needs neither weights nor a forward pass.

        Parameters
        ----------
        order : {'hwc', 'chw'}
            Shapes as the lecture writes them, ``(H, W, C)`` (``(L, C)`` in 1-D), or channels
            first, ``(C, H, W)``, as the model computes.

        Returns
        -------
        Summary
            ``str()`` of it is the table; ``.rows`` (a list of :class:`SummaryRow`),
            ``.total_params``, ``.total_macs``, ``.param_bytes`` and ``.activation_bytes`` are
            the data.

        Examples
        --------
        >>> from cnncore import nn
        >>> s = nn.lecture_model(pretrained=False).summary()
        >>> [r.params for r in s.rows], s.total_params
        ([0, 416, 0, 12832, 0, 156900, 1010], 171158)
        """
        return _summary.summarize(self, order)

    def get_config(self) -> dict:
        """The architecture as plain data (JSON-ready); :meth:`from_config` rebuilds it."""
        return {"name": self.name, "layers": [layer.get_config() for layer in self.layers]}

    @classmethod
    def from_config(cls, config, seed=0) -> "Sequential":
        """Build a model from :meth:`get_config`'s format (see :mod:`cnncore.nn.config`)."""
        from .config import model_from_config

        return model_from_config(config, seed=seed)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, key):
        """A layer by position or by name."""
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(f"Sequential: no layer named {key!r}")
        return self.layers[key]

    def __repr__(self):
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner}\n], name={self.name!r})"

    # -- weights ----------------------------------------------------------------------------

    def init_weights(self, seed=0) -> None:
        """Draw new weights from ``numpy.random.default_rng(seed)``, layer after layer.

        He (Kaiming) normal initialisation, standard deviation ``sqrt(2 / fan_in)``, for a layer
        whose activation (its own, or the layer right after it) is ReLU, LeakyReLU or ELU;
        Glorot (Xavier) uniform otherwise. ``fan_in = C/groups * kernel size`` (``inputs`` for
        Dense), ``fan_out = F * kernel size`` (``units``). Biases start at zero. The same seed
        gives the same weights.
        """
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"init_weights: seed must be an integer, got {seed!r}")
        if seed < 0:
            raise ValueError(f"init_weights: seed must be >= 0, got {seed}")
        rng = np.random.default_rng(int(seed))
        for i, layer in enumerate(self.layers):
            after = self.layers[i + 1] if i + 1 < len(self.layers) else None
            layer.init_params(rng, he=isinstance(after, _Activation) and after.he)

    def get_weights(self) -> dict:
        """The weights by ``'<layer>/<parameter>'`` name (the arrays themselves, not copies)."""
        weights = {}
        for layer in self.layers:
            for param, arr in layer._weights().items():
                weights[f"{layer.name}/{param}"] = arr
        return weights

    def set_weights(self, weights) -> None:
        """Set every weight from a mapping of ``'<layer>/<parameter>'`` to array.

        The mapping must hold exactly the model's parameters, each a real, finite array of the
        parameter's shape (an error names the layer otherwise); they are copied to float32.
        """
        checked = _weights.check_weights(self, weights, "set_weights")
        for layer in self.layers:
            names = layer.param_shapes()
            if names:
                layer.params = {p: checked[f"{layer.name}/{p}"] for p in names}

    @property
    def num_params(self) -> int:
        """The number of parameters the architecture has (no weights needed)."""
        return sum(layer.num_params for layer in self.layers)

    def save_weights(self, path, compressed: bool = False) -> None:
        """Save the weights to ``path`` (exactly that path) as an ``.npz`` file, no pickle.

        One array per parameter, named ``'<layer>/<parameter>'`` (``'CONV1/weight'``), float32,
        with the layouts of :class:`~cnncore.nn.Conv2D` and :class:`~cnncore.nn.Dense`.
        """
        _weights.save_weights(self, path, compressed)

    def load_weights(self, path) -> None:
        """Load weights saved by :meth:`save_weights`, checking everything before reading.

        A file that is not an ``.npz`` archive (a pickle, a bare ``.npy``), an array of the wrong
        shape or dtype (object arrays included), a missing or an extra array, a header declaring
        more data than the layer holds and a member inflating past its array (a zip bomb) are
        refused with a ``ValueError`` naming the layer, before the array data is read; pickle is
        never used. See :mod:`cnncore.nn.weights`.
        """
        _weights.load_weights(self, path)

    # -- running ----------------------------------------------------------------------------

    def _check_input(self, x, fname):
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(
                f"{fname}: x must hold real numbers (bool, int, uint or float), got dtype {x.dtype}"
            )
        shape = self.input_shape
        if x.ndim == len(shape) + 1 and x.shape[1:] == shape:
            return x
        if shape[0] == 1 and len(shape) > 1 and x.shape[1:] == shape[1:] and x.ndim == len(shape):
            return x.reshape((x.shape[0],) + shape)
        alt = ""
        if shape[0] == 1 and len(shape) > 1:
            alt = f" or (N, {', '.join(map(str, shape[1:]))})"
        raise ValueError(
            f"{fname}: x must have shape (N, {', '.join(map(str, shape))}){alt}, a batch of the "
            f"model's input, got {x.shape}"
        )

    def predict(self, x, batch_size=None) -> np.ndarray:
        """Run the model on a batch, in float32.

        Parameters
        ----------
        x : array_like, shape (N,) + input_shape
            A batch, channels first: ``(N, C, H, W)`` for a 2-D model. A model with one input
            channel also takes ``(N, H, W)`` (or ``(N, L)``). Any real dtype; it is converted to
            float32 one batch at a time (no scaling: a model trained on ``pixels / 255`` wants
            that).
        batch_size : int, optional
            Samples per forward pass; by default all of them, in batches of at most 1024 samples
            and 1 GiB of working memory. A result, or a batch's working memory, larger than the
            memory limit (physical memory, or ``CNNCORE_MAX_BYTES``) raises ``MemoryError``
            before anything is allocated.

        Returns
        -------
        ndarray of float32, shape (N,) + output_shape

        Examples
        --------
        >>> from cnncore import nn
        >>> model = nn.lecture_model()
        >>> images, labels = nn.load_digits()
        >>> probs = model.predict(images[:8] / 255)
        >>> probs.shape, bool((probs.argmax(1) == labels[:8]).all())
        ((8, 10), True)
        """
        if (type(x) is np.ndarray and x.dtype == np.float32 and x.ndim > 0
                and (batch_size is None or (type(batch_size) is int and batch_size >= x.shape[0]))):
            # The common call, a float32 batch of the model's input shape that fits one pass:
            # straight to the compiled engine (what follows would find the same).
            engine = self._engine()
            fast = getattr(self, "_engine_fast", None)
            if (engine is not None and fast is not None and fast[0] is engine
                    and x.shape[1:] == fast[1] and 0 < x.shape[0] <= fast[3]
                    and x.flags.c_contiguous and x.flags.aligned):
                return engine.run(x).reshape((x.shape[0],) + fast[2])
        fname = "predict"
        x = self._check_input(x, fname)
        n = x.shape[0]
        per_sample = self._bytes_per_sample()
        if batch_size is None:
            budget = min(DEFAULT_BATCH_BYTES, _common.MAX_BYTES)
            batch_size = max(1, min(DEFAULT_BATCH, budget // per_sample))
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(f"{fname}: batch_size must be a positive integer, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"{fname}: batch_size must be >= 1, got {batch_size}")
        self._engine()  # refuses a model without weights before any work
        _common.check_output_size(fname, (n,) + self.output_shape, 4)
        batch = min(n, int(batch_size))
        if batch * per_sample > _common.MAX_BYTES:
            need = batch * per_sample
            raise MemoryError(
                f"{fname}: a batch of {batch} samples needs {need} bytes "
                f"({_common._human(need)}) of working memory ({per_sample} bytes a sample), more "
                f"than the {_common.MAX_BYTES} bytes ({_common._human(_common.MAX_BYTES)}) "
                f"available; pass a smaller batch_size"
            )
        if n <= batch_size:
            return self._forward(x)
        out = np.empty((n,) + self.output_shape, np.float32)
        for start in range(0, n, batch_size):
            out[start:start + batch_size] = self._forward(x[start:start + batch_size])
        return out

    __call__ = predict

    def _bytes_per_sample(self) -> int:
        """Working memory of one sample's forward pass, at most: its float32 copy, the two
        buffers the activations alternate between and the dense layers' gathered input (each at
        most as large as the largest layer output) and its result."""
        sizes = [math.prod(layer.output_shape) for layer in self.layers]
        return 4 * (sizes[0] + 3 * max(sizes) + sizes[-1])

    def _forward(self, x):
        y = np.ascontiguousarray(x, dtype=np.float32)
        engine = self._engine()
        if engine is not None:
            return engine.run(y).reshape((y.shape[0],) + self.output_shape)
        for layer in self.layers:
            y = layer.forward(y)
        return y

    def _engine(self):
        """The compiled forward pass (cnncore.nn._engine), rebuilt when any weight array is
        replaced; None when the model has a layer it does not run. Arrays changed in place are
        not seen: call ``invalidate()`` after editing ``layer.params[...]`` in place."""
        arrays = [a for layer in self.layers for a in layer.params.values()]
        cached = getattr(self, "_engine_cache", None)
        # The cache holds the arrays it was built from: while it lives no other object can take
        # their ids, so the same ids mean the same arrays (and NumPy refuses to resize an array
        # something else refers to).
        if (cached is not None and len(cached[0]) == len(arrays)
                and all(a is b for a, b in zip(arrays, cached[0]))):
            return cached[1]
        for layer in self.layers:
            layer._weights()  # a model without weights is refused before any work
        try:
            engine = _engine_mod.build(self)
        except (ValueError, TypeError):
            engine = None
        self._engine_cache = (arrays, engine)
        if engine is not None:
            # For predict's fast path: the largest batch it may run in one pass unchecked (the
            # default batch, within the memory limit for its work buffers and its result).
            per_sample = self._bytes_per_sample()
            out = self.output_shape
            budget = min(DEFAULT_BATCH_BYTES, _common.MAX_BYTES)
            most = min(DEFAULT_BATCH, budget // per_sample,
                       _common.MAX_BYTES // (4 * max(1, math.prod(out))))
            self._engine_fast = (engine, self.input_shape, out, most)
        return engine

    def invalidate(self) -> None:
        """Forget the compiled forward pass (after weights were edited in place)."""
        self._engine_cache = None

    def activations(self, x) -> list:
        """Every layer's output for a batch ``x``: a list as long as the model, float32.

        ``activations(x)[0]`` is the input (as float32, channels first); ``[i]`` the output of
        layer ``i``, of shape ``(N,) + layers[i].output_shape``. Used to look at feature maps.

        >>> import numpy as np
        >>> from cnncore import nn
        >>> maps = nn.lecture_model().activations(np.zeros((1, 28, 28)))
        >>> [m.shape for m in maps[:3]]
        [(1, 1, 28, 28), (1, 16, 28, 28), (1, 16, 14, 14)]
        """
        y = np.ascontiguousarray(self._check_input(x, "activations"), dtype=np.float32)
        out = []
        for layer in self.layers:
            y = layer.forward(y)
            out.append(y)
        return out
