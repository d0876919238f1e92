"""Weights files: ``.npz`` archives of ``.npy`` arrays, checked before they are read, never pickle.

A model's weights file holds one array per parameter, named ``'<layer name>/<parameter>'``
(``'CONV1/weight'``, ``'CONV1/bias'``, ...), as :func:`numpy.savez` writes them. Reading one
(:func:`read_npz`) trusts nothing in the file:

1. The file must be a zip archive (a pickle, a bare ``.npy`` or anything else is refused by its
   first bytes, without being parsed further).
2. Every member must be a ``.npy`` file named after an expected array (an extra array is refused),
   and every expected array must be there (a missing one is refused).
3. Before any array data is read, each member's ``.npy`` header is parsed on its own
   (:func:`numpy.lib.format.read_magic`, ``read_array_header_1_0`` / ``_2_0``, which parse a
   literal and never unpickle): its dtype must be a plain real number type (bool, int, uint or
   float; an object array, which would need pickle, is refused), its shape must be the expected
   one (so a header declaring 10**12 elements is refused before anything is allocated), and the
   member's uncompressed size recorded in the archive must be exactly the header plus the data
   that shape needs (so a zip bomb, a member inflating far beyond its declared array, is refused
   before it is decompressed; :mod:`zipfile` never inflates past that recorded size).
4. Only then are the arrays read, with ``numpy.load(..., allow_pickle=False)``, and checked again.

Every refusal is a ``ValueError`` that names the function, the file, the array and, for model
weights, the layer it belongs to.
"""

from __future__ import annotations

import inspect
import math
import os
import zipfile
from dataclasses import dataclass
from typing import Dict, Mapping, Tuple

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["Expected", "read_npz", "save_weights", "load_weights", "check_weights"]

# The .npy header is a short dict literal; numpy's own default limit.
_MAX_HEADER = 10_000
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HAS_MAX_HEADER = (
    "max_header_size" in inspect.signature(npy_format.read_array_header_1_0).parameters
)


@dataclass(frozen=True)
class Expected:
    """What one array of an ``.npz`` file must be.

    Attributes
    ----------
    shape : tuple of int
    kinds : str
        Accepted :attr:`numpy.dtype.kind` letters, e.g. ``'fiu'``.
    owner : str
        What the array belongs to, for messages (``"Conv2D 'CONV1'"``).
    """

    shape: Tuple[int, ...]
    kinds: str = "biuf"
    owner: str = ""


def _describe_start(head: bytes) -> str:
    if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}"):
        return "it looks like a pickle, which is never loaded"
    if head.startswith(b"\x93NUMPY"):
        return "it is a single .npy array, not an .npz archive"
    if not head:
        return "it is empty"
    return "it does not start like a zip archive"


def _for(exp: Expected) -> str:
    return f" for {exp.owner}" if exp.owner else ""


def _check_names(fname: str, names, expected, holder: str) -> None:
    """Refuse arrays the model has no place for, then parameters with no array: the same rule
    for a weights file (``holder`` its path) and an in-memory mapping."""
    extra = [k for k in names if k not in expected]
    if extra:
        raise ValueError(
            f"{fname}: {holder} holds array(s) {', '.join(repr(k) for k in extra)} that match "
            f"nothing expected (expected: {', '.join(repr(k) for k in expected)})"
        )
    missing = [k for k in expected if k not in names]
    if missing:
        details = "; ".join(
            f"'{k}'{_for(expected[k])} of shape {tuple(expected[k].shape)}" for k in missing
        )
        raise ValueError(f"{fname}: {holder} has no array {details}")


def _read_header(member):
    """``(shape, fortran_order, dtype)`` from a ``.npy`` stream, reading only its header."""
    version = npy_format.read_magic(member)
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy format version {version} is not supported")
    if _HAS_MAX_HEADER:
        return readers[version](member, max_header_size=_MAX_HEADER)
    return readers[version](member)  # numpy < 1.24: no limit argument (headers up to 64 KiB)


def _check_header(fname, path, key, exp, dtype, shape, header_len, info):
    """Refuse a member whose header disagrees with ``exp`` or with its recorded size."""
    where = f"{fname}: array '{key}'{_for(exp)} in {path}"
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None:
        raise ValueError(
            f"{where} has dtype {dtype}; only plain real numbers are accepted (object arrays "
            f"would need pickle, which is never used)"
        )
    if dtype.kind not in exp.kinds:
        raise ValueError(
            f"{where} has dtype {dtype}; expected one of kinds {exp.kinds!r} "
            f"(b bool, i int, u uint, f float)"
        )
    count = math.prod(shape)
    if tuple(shape) != tuple(exp.shape):
        raise ValueError(
            f"{where} has shape {tuple(shape)} ({count:,} elements); expected {tuple(exp.shape)}"
        )
    need = header_len + count * dtype.itemsize
    if info.file_size > need:
        raise ValueError(
            f"{where}: the archive records {info.file_size:,} uncompressed bytes but its header "
            f"needs {need:,}; refused unread (a zip bomb or a corrupt file)"
        )
    if info.file_size < need:
        raise ValueError(
            f"{where} is truncated: {info.file_size:,} bytes where its header needs {need:,}"
        )


def read_npz(path, expected: Mapping[str, Expected], fname: str = "read_npz",
             finite: bool = False) -> Dict[str, np.ndarray]:
    """Read an ``.npz`` file holding exactly the arrays of ``expected``, checked first.

    Parameters
    ----------
    path : str or path-like
    expected : mapping of str to Expected
        The arrays the file must hold, by name (without ``.npy``).
    fname : str
        The public function to name in errors.
    finite : bool
        Also refuse float arrays holding NaN or infinity.

    Returns
    -------
    dict of str to ndarray
        The arrays, in their stored dtype.

    Raises
    ------
    ValueError
        For any file that is not exactly what ``expected`` describes (see the module docstring).
    OSError
        When the file cannot be opened.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from cnncore.nn.weights import Expected, read_npz
    >>> path = os.path.join(tempfile.mkdtemp(), 'a.npz')
    >>> np.savez(path, a=np.zeros(3, np.float32))
    >>> read_npz(path, {'a': Expected((3,), 'f')})
    {'a': array([0., 0., 0.], dtype=float32)}
    >>> read_npz(path, {'a': Expected((4,), 'f')})
    Traceback (most recent call last):
    ...
    ValueError: read_npz: array 'a' in ... has shape (3,) (3 elements); expected (4,)
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if not head.startswith(_ZIP_MAGIC):
        raise ValueError(
            f"{fname}: {path} is not an .npz file (a zip archive of .npy arrays): "
            f"{_describe_start(head)}"
        )
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{fname}: {path} is not a readable zip archive ({exc})") from None
    with archive:
        members = {}
        for info in archive.infolist():
            name = info.filename
            if not name.endswith(".npy") or info.is_dir():
                raise ValueError(f"{fname}: {path} holds '{name}', which is not a .npy array")
            key = name[:-4]
            if key in members:
                raise ValueError(f"{fname}: {path} holds array '{key}' twice")
            members[key] = info
        _check_names(fname, members, expected, str(path))
        for key, info in members.items():
            exp = expected[key]
            if info.flag_bits & 0x1:
                raise ValueError(f"{fname}: array '{key}'{_for(exp)} in {path} is encrypted")
            try:
                with archive.open(info) as member:
                    shape, _, dtype = _read_header(member)
                    header_len = member.tell()
            except (ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
                raise ValueError(
                    f"{fname}: array '{key}'{_for(exp)} in {path} has no valid .npy header ({exc})"
                ) from None
            _check_header(fname, path, key, exp, dtype, shape, header_len, info)

    arrays = {}
    with np.load(path, allow_pickle=False) as npz:
        for key, exp in expected.items():
            arr = npz[key]
            if arr.shape != tuple(exp.shape) or arr.dtype.kind not in exp.kinds:
                raise ValueError(f"{fname}: array '{key}'{_for(exp)} in {path} changed while read")
            if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ValueError(
                    f"{fname}: array '{key}'{_for(exp)} in {path} holds NaN or infinity"
                )
            arrays[key] = arr
    return arrays


def _expected(model) -> Dict[str, Expected]:
    return {
        f"{layer.name}/{param}": Expected(shape, "biuf", layer.label)
        for layer in model.layers
        for param, shape in layer.param_shapes().items()
    }


def check_weights(model, weights: Mapping, fname: str) -> Dict[str, np.ndarray]:
    """Check an in-memory mapping of arrays against ``model``; return float32 C-contiguous copies.

    The keys must be exactly the model's ``'<layer>/<parameter>'`` names; each value must be a
    real, finite array of its parameter's shape. Errors name the layer.
    """
    expected = _expected(model)
    if not isinstance(weights, Mapping):
        raise TypeError(f"{fname}: weights must be a mapping of name to array, got "
                        f"{type(weights).__name__}")
    _check_names(fname, weights, expected, "the mapping")
    out = {}
    for key, exp in expected.items():
        arr = np.asarray(weights[key])
        if arr.dtype.kind not in exp.kinds:
            raise TypeError(
                f"{fname}: array '{key}' for {exp.owner} must hold real numbers, got dtype "
                f"{arr.dtype}"
            )
        if arr.shape != exp.shape:
            raise ValueError(
                f"{fname}: array '{key}' for {exp.owner} has shape {arr.shape}; expected "
                f"{exp.shape}"
            )
        arr = np.array(arr, dtype=np.float32, order="C", copy=True)
        if not np.isfinite(arr).all():
            raise ValueError(f"{fname}: array '{key}' for {exp.owner} holds NaN or infinity "
                             f"(or values beyond float32)")
        out[key] = arr
    return out


def save_weights(model, path, compressed: bool = False) -> None:
    """Write ``model``'s weights to ``path`` (exactly that path) as an ``.npz`` archive."""
    arrays = model.get_weights()
    save = np.savez_compressed if compressed else np.savez
    with open(os.fspath(path), "wb") as f:
        save(f, **arrays)


def load_weights(model, path) -> None:
    """Read ``path`` with :func:`read_npz` against ``model``'s parameters and set them."""
    arrays = read_npz(path, _expected(model), "load_weights", finite=True)
    model.set_weights(arrays)
