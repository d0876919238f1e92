"""The model-complexity table (SPEC section 7): per layer its activation shape and size, its
parameters and multiply-accumulates, and the totals.

A :class:`Summary` is computed from the shapes alone: no weights and no forward pass. Its ``str()``
is the table; its rows and totals are plain data.

>>> from cnncore import nn
>>> summary = nn.lecture_model(pretrained=False, seed=None).summary()
>>> summary.rows[3]
SummaryRow(index=4, name='CONV2', layer='Conv2D 5x5, 32 filters, same, relu',
           shape=(14, 14, 32), size=6272, params=12832, macs=2508800)
>>> summary.total_params, summary.param_bytes
(171158, 684632)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

__all__ = ["SummaryRow", "Summary", "summarize", "BYTES_PER_VALUE"]

# Parameters and activations are float32.
BYTES_PER_VALUE = 4


@dataclass(frozen=True)
class SummaryRow:
    """One layer of the table.

    Attributes
    ----------
    index : int
        Position in the model, from 1 (the lecture's "No").
    name : str
        The layer's name.
    layer : str
        What the layer is, e.g. ``'Conv2D 5x5, 16 filters, same, relu'``.
    shape : tuple of int
        The layer's output (activation) shape for one sample, in the summary's order.
    size : int
        The activation size: the product of ``shape``.
    params : int
        Number of parameters.
    macs : int
        Multiply-accumulates per sample.
    """

    index: int
    name: str
    layer: str
    shape: Tuple[int, ...]
    size: int
    params: int
    macs: int


@dataclass(frozen=True)
class Summary:
    """The complexity table of a model; ``str(summary)`` prints it.

    Attributes
    ----------
    name : str
        The model's name.
    order : {'hwc', 'chw'}
        The order of the shapes: ``'hwc'`` the lecture's (height, width, channels), ``'chw'``
        channels first as the model computes.
    rows : list of SummaryRow
    total_params, total_macs : int
        Sums over the rows (MACs per sample).
    param_bytes : int
        Bytes of the parameters in float32: ``4 * total_params``.
    activation_bytes : int
        Bytes of every layer's activation for one sample in float32, the input included:
        ``4 * sum(row.size)``.
    """

    name: str
    order: str
    rows: List[SummaryRow]
    total_params: int
    total_macs: int
    param_bytes: int
    activation_bytes: int

    def __str__(self) -> str:
        return format_table(self)


def order_shape(shape, order: str) -> Tuple[int, ...]:
    """A channels-first per-sample shape in ``order``: ``'hwc'`` moves the channels last."""
    shape = tuple(shape)
    if order == "hwc" and len(shape) > 1:
        return shape[1:] + shape[:1]
    return shape


def summarize(model, order: str = "hwc") -> Summary:
    """The :class:`Summary` of a built model (see :meth:`cnncore.nn.Sequential.summary`)."""
    if order not in ("hwc", "chw"):
        raise ValueError(f"summary: order must be 'hwc' or 'chw', got {order!r}")
    rows = []
    for index, layer in enumerate(model.layers, start=1):
        rows.append(SummaryRow(
            index=index,
            name=layer.name,
            layer=layer.describe(),
            shape=order_shape(layer.output_shape, order),
            size=math.prod(layer.output_shape),
            params=layer.num_params,
            macs=layer.macs,
        ))
    total_params = sum(r.params for r in rows)
    return Summary(
        name=model.name,
        order=order,
        rows=rows,
        total_params=total_params,
        total_macs=sum(r.macs for r in rows),
        param_bytes=BYTES_PER_VALUE * total_params,
        activation_bytes=BYTES_PER_VALUE * sum(r.size for r in rows),
    )


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    return str(n)


def format_table(summary: Summary) -> str:
    """The summary as a text table, with the lecture's columns plus MACs."""
    order_name = "(H, W, C)" if summary.order == "hwc" else "(C, H, W), channels first"
    headers = ("No", "Name", "Layer", "Activation shape", "Activation size", "# Parameters",
               "MACs")
    body = [
        (str(r.index), r.name, r.layer, str(r.shape), f"{r.size:,}", f"{r.params:,}",
         f"{r.macs:,}")
        for r in summary.rows
    ]
    total = ("", "Total", "", "", "", f"{summary.total_params:,}", f"{summary.total_macs:,}")
    widths = [max(len(row[i]) for row in [headers, total] + body) for i in range(len(headers))]
    right = {0, 4, 5, 6}

    def line(cells):
        out = [c.rjust(w) if i in right else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [f"Model: {summary.name} (shapes per sample, {order_name})", line(headers), rule]
    lines += [line(row) for row in body]
    lines += [rule, line(total), ""]
    lines.append(
        f"Parameters: {summary.total_params:,} ({_bytes(summary.param_bytes)} in float32); "
        f"multiply-accumulates per sample: {summary.total_macs:,}"
    )
    lines.append(
        f"Activations per sample, input included: {summary.activation_bytes // BYTES_PER_VALUE:,} "
        f"values ({_bytes(summary.activation_bytes)} in float32)"
    )
    return "\n".join(lines)
