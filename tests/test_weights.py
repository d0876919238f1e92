"""Weights: seeded initialisation, .npz files written and read back, and every file that must be
refused (wrong shape, missing or extra array, object array, pickle, not a zip, a header declaring
10**12 elements, a zip bomb) refused before its data is read, with nothing in it executed."""

from __future__ import annotations

import io
import pickle
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy_format

from cnncore import nn
from cnncore.nn import weights as weights_mod


def small_model(seed=0):
    return nn.Sequential([
        nn.Input((2, 6, 6)),
        nn.Conv2D(3, 3, activation="relu", name="conv"),
        nn.MaxPool2D(2, name="pool"),
        nn.Dense(4, name="fc"),
    ], name="small", seed=seed)


def arrays_of(model):
    return {k: v.copy() for k, v in model.get_weights().items()}


class Marker:
    """Unpickling this object creates the file at ``path`` (``open(path, 'w')``): a side effect
    that shows whether anything was unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def no_array_read(monkeypatch):
    """Fail the test if anything calls numpy.load: refusals must come before any data is read."""
    def refuse(*args, **kwargs):
        raise AssertionError("numpy.load was called on a file that should have been refused")

    monkeypatch.setattr(weights_mod.np, "load", refuse)


def npy_bytes(header: dict, payload: bytes = b"") -> bytes:
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, header)
    return buf.getvalue() + payload


def write_zip(path, members: dict):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def npz_members(arrays: dict) -> dict:
    out = {}
    for key, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        out[f"{key}.npy"] = buf.getvalue()
    return out


# ----------------------------------------------------------------------------------------------
# Initialisation


def test_init_is_seeded_and_deterministic():
    a, b, c = small_model(seed=3), small_model(seed=3), small_model(seed=4)
    for key, w in a.get_weights().items():
        np.testing.assert_array_equal(w, b.get_weights()[key])
        assert w.dtype == np.float32 and w.flags.c_contiguous
    assert not np.array_equal(a.get_weights()["conv/weight"], c.get_weights()["conv/weight"])
    b.init_weights(seed=4)
    np.testing.assert_array_equal(b.get_weights()["fc/weight"], c.get_weights()["fc/weight"])


def test_he_for_relu_layers_glorot_otherwise():
    model = nn.Sequential([
        nn.Input((16, 20, 20)),
        nn.Conv2D(64, 5, name="he_own"),  # followed by a ReLU layer: He
        nn.ReLU(),
        nn.Conv2D(64, 3, activation=nn.LeakyReLU(0.1), name="he_act"),
        nn.Dense(300, name="glorot"),
        nn.Dense(10, activation="elu", name="he_dense"),
    ], seed=0)
    w = model.get_weights()
    he = (("he_own/weight", 16 * 25), ("he_act/weight", 64 * 9), ("he_dense/weight", 300))
    for key, fan_in in he:
        assert abs(w[key].std() / np.sqrt(2 / fan_in) - 1) < 0.05, key
    fan_in, fan_out = 64 * 14 * 14, 300
    limit = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w["glorot/weight"]).max() <= limit
    assert abs(w["glorot/weight"].std() / (limit / np.sqrt(3)) - 1) < 0.02
    for key in ("he_own/bias", "he_act/bias", "glorot/bias", "he_dense/bias"):
        assert not w[key].any()


def test_a_model_without_weights_says_so():
    model = nn.Sequential([nn.Input((4,)), nn.Dense(2, name="fc")], seed=None)
    assert model.summary().total_params == 10  # the table needs no weights
    with pytest.raises(ValueError, match=r"Dense 'fc': the layer has no weights yet; call the "
                                         r"model's init_weights\(\) or load_weights\(\)"):
        model.predict(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"init_weights: seed must be >= 0, got -1"):
        model.init_weights(-1)
    with pytest.raises(TypeError, match=r"init_weights: seed must be an integer, got 1.5"):
        model.init_weights(1.5)


# ----------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("compressed", [False, True])
def test_save_and_load_round_trip(tmp_path, compressed):
    model = small_model(seed=1)
    path = tmp_path / "weights.bin"  # exactly this path: no '.npz' appended
    model.save_weights(path, compressed=compressed)
    assert path.exists() and not (tmp_path / "weights.bin.npz").exists()
    other = small_model(seed=2)
    other.load_weights(path)
    for key, w in model.get_weights().items():
        np.testing.assert_array_equal(other.get_weights()[key], w)
    x = np.random.default_rng(0).standard_normal((5, 2, 6, 6))
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["conv/bias.npy", "conv/weight.npy", "fc/bias.npy",
                                         "fc/weight.npy"]


def test_float64_and_integer_arrays_are_accepted_as_float32(tmp_path):
    model = small_model()
    arrays = {k: v.astype(np.float64) for k, v in arrays_of(model).items()}
    arrays["conv/bias"] = np.array([1, 2, 3], np.int16)
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    model.load_weights(path)
    assert model.get_weights()["conv/bias"].tolist() == [1.0, 2.0, 3.0]
    assert all(w.dtype == np.float32 for w in model.get_weights().values())


def test_set_weights_copies_and_checks():
    model = small_model()
    arrays = arrays_of(model)
    arrays["fc/bias"] = [1, 2, 3, 4]
    model.set_weights(arrays)
    assert model.get_weights()["fc/bias"].tolist() == [1, 2, 3, 4]
    with pytest.raises(TypeError, match=r"set_weights: array 'fc/bias' for Dense 'fc' must hold "
                                        r"real numbers, got dtype complex128"):
        model.set_weights({**arrays, "fc/bias": np.ones(4, complex)})
    with pytest.raises(ValueError, match=r"set_weights: array 'conv/weight' for Conv2D 'conv' has "
                                         r"shape \(3, 2, 3\); expected \(3, 2, 3, 3\)"):
        model.set_weights({**arrays, "conv/weight": np.ones((3, 2, 3))})
    with pytest.raises(TypeError, match=r"set_weights: weights must be a mapping"):
        model.set_weights([1, 2])
    with pytest.raises(ValueError, match=r"set_weights: the mapping holds array\(s\) 'extra' that "
                                         r"match nothing expected"):
        model.set_weights({**arrays, "extra": np.ones(1)})
    without_bias = {k: v for k, v in arrays.items() if k != "fc/bias"}
    with pytest.raises(ValueError, match=r"set_weights: the mapping has no array 'fc/bias' for "
                                         r"Dense 'fc' of shape \(4,\)"):
        model.set_weights(without_bias)


# ----------------------------------------------------------------------------------------------
# Refusals: each before numpy.load reads any array data


def test_wrong_shape_is_refused_naming_the_layer(tmp_path, no_array_read):
    arrays = arrays_of(small_model())
    arrays["conv/weight"] = np.zeros((3, 2, 5, 5), np.float32)
    path = tmp_path / "w.npz"
    write_zip(path, npz_members(arrays))
    with pytest.raises(ValueError, match=r"load_weights: array 'conv/weight' for Conv2D 'conv' in "
                                         r".*w.npz has shape \(3, 2, 5, 5\) \(150 elements\); "
                                         r"expected \(3, 2, 3, 3\)"):
        small_model().load_weights(path)


def test_missing_array_is_refused_naming_the_layer(tmp_path, no_array_read):
    arrays = arrays_of(small_model())
    del arrays["fc/bias"]
    path = tmp_path / "w.npz"
    write_zip(path, npz_members(arrays))
    with pytest.raises(ValueError, match=r"load_weights: .*w.npz has no array 'fc/bias' for "
                                         r"Dense 'fc' of shape \(4,\)"):
        small_model().load_weights(path)


def test_extra_array_is_refused(tmp_path, no_array_read):
    arrays = arrays_of(small_model())
    arrays["pool/weight"] = np.zeros(3, np.float32)
    path = tmp_path / "w.npz"
    write_zip(path, npz_members(arrays))
    with pytest.raises(ValueError, match=r"load_weights: .*w.npz holds array\(s\) 'pool/weight' "
                                         r"that match nothing expected \(expected: 'conv/weight', "
                                         r"'conv/bias', 'fc/weight', 'fc/bias'\)"):
        small_model().load_weights(path)


def test_object_array_is_refused_and_not_unpickled(tmp_path, no_array_read):
    marker = tmp_path / "executed"
    arrays = {k: v for k, v in arrays_of(small_model()).items()}
    arrays["conv/bias"] = np.array([Marker(marker), 0, 0], dtype=object)
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)  # pickles the object array inside the .npy member
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"load_weights: array 'conv/bias' for Conv2D 'conv' in "
                                         r".* has dtype object; only plain real numbers are "
                                         r"accepted \(object arrays would need pickle"):
        small_model().load_weights(path)
    assert not marker.exists()


def test_pickle_file_is_refused_and_not_executed(tmp_path, no_array_read):
    marker = tmp_path / "executed"
    path = tmp_path / "weights.npz"
    path.write_bytes(pickle.dumps({"conv/weight": Marker(marker)}))
    with pytest.raises(ValueError, match=r"load_weights: .*weights.npz is not an .npz file \(a zip "
                                         r"archive of .npy arrays\): it looks like a pickle, which "
                                         r"is never loaded"):
        small_model().load_weights(path)
    # A pickle hidden inside the archive, in place of a .npy member.
    arrays = arrays_of(small_model())
    members = npz_members(arrays)
    members["conv/weight.npy"] = pickle.dumps(Marker(marker))
    write_zip(path, members)
    with pytest.raises(ValueError, match=r"array 'conv/weight' for Conv2D 'conv' in .* has no "
                                         r"valid .npy header"):
        small_model().load_weights(path)
    assert not marker.exists()


@pytest.mark.parametrize("content, match", [
    (b"", r"it is empty"),
    (b"conv/weight,1,2,3\n", r"it does not start like a zip archive"),
    (None, r"it is a single .npy array, not an .npz archive"),
    (b"PK\x03\x04 truncated", r"is not a readable zip archive"),
])
def test_files_that_are_not_npz_archives_are_refused(tmp_path, no_array_read, content, match):
    path = tmp_path / "w.npz"
    if content is None:
        buf = io.BytesIO()
        np.save(buf, np.zeros(3))
        content = buf.getvalue()
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"load_weights: .*w.npz .*" + match):
        small_model().load_weights(path)


def test_a_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        small_model().load_weights(tmp_path / "nowhere.npz")


def test_other_members_and_duplicates_are_refused(tmp_path, no_array_read):
    members = npz_members(arrays_of(small_model()))
    path = tmp_path / "w.npz"
    write_zip(path, {**members, "README.txt": b"hello"})
    with pytest.raises(ValueError, match=r"holds 'README.txt', which is not a .npy array"):
        small_model().load_weights(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it writes
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            zf.writestr("fc/bias.npy", members["fc/bias.npy"])
    with pytest.raises(ValueError, match=r"holds array 'fc/bias' twice"):
        small_model().load_weights(path)


def test_nan_weights_are_refused(tmp_path):
    arrays = arrays_of(small_model())
    arrays["fc/weight"][0, 0] = np.nan
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"array 'fc/weight' for Dense 'fc' in .* holds NaN or "
                                         r"infinity"):
        small_model().load_weights(path)


def test_header_declaring_1e12_elements_is_refused_before_allocating(tmp_path, no_array_read):
    members = npz_members(arrays_of(small_model()))
    members["conv/weight.npy"] = npy_bytes(
        {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}, b"\0" * 64)
    path = tmp_path / "w.npz"
    write_zip(path, members)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"array 'conv/weight' for Conv2D 'conv' in .* has "
                                             r"shape \(1000000000000,\) \(1,000,000,000,000 "
                                             r"elements\); expected \(3, 2, 3, 3\)"):
            small_model().load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_zip_bomb_is_refused_before_inflating(tmp_path, no_array_read):
    members = npz_members(arrays_of(small_model()))
    header = npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (4, 12)})
    path = tmp_path / "bomb.npz"
    inflated = 64 * 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if name != "fc/weight.npy":
                zf.writestr(name, data)
        with zf.open("fc/weight.npy", "w", force_zip64=True) as member:
            member.write(header)
            chunk = bytes(2**20)
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
    assert path.stat().st_size < 2**20  # 64 MiB of zeros, deflated
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"array 'fc/weight' for Dense 'fc' in .*bomb.npz: "
                                             r"the archive records 67,108,992 uncompressed bytes "
                                             r"but its header needs 320; refused unread \(a zip "
                                             r"bomb"):
            small_model().load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_truncated_member_is_refused(tmp_path, no_array_read):
    members = npz_members(arrays_of(small_model()))
    members["fc/bias.npy"] = members["fc/bias.npy"][:-4]
    path = tmp_path / "w.npz"
    write_zip(path, members)
    with pytest.raises(ValueError, match=r"array 'fc/bias' for Dense 'fc' in .* is truncated"):
        small_model().load_weights(path)


def test_the_shipped_files_pass_the_same_checks():
    from cnncore.nn.lecture import DIGITS_FILE, WEIGHTS_FILE, data_path

    model = nn.lecture_model()
    assert sorted(model.get_weights()) == sorted(
        f"{name}/{p}" for name in ("CONV1", "CONV2", "FC3", "FC4") for p in ("weight", "bias"))
    images, labels = nn.load_digits()
    assert images.shape == (1000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).min() > 50
    with zipfile.ZipFile(data_path(DIGITS_FILE)) as zf:
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in zf.infolist())
    with zipfile.ZipFile(data_path(WEIGHTS_FILE)) as zf:
        assert len(zf.namelist()) == 8


# ----------------------------------------------------------------------------------------------
# Byte order and layout: read correctly, not refused and not misread


def test_big_endian_and_fortran_ordered_arrays_load_correctly(tmp_path):
    model = small_model(seed=5)
    want = arrays_of(model)
    stored = {k: v.astype(">f4") for k, v in want.items()}          # big-endian float32
    stored["fc/weight"] = np.asfortranarray(want["fc/weight"].astype(">f8"))  # and Fortran order
    stored["conv/bias"] = np.array([1, -2, 3], ">i2")                 # big-endian integers
    want["conv/bias"] = np.array([1, -2, 3], np.float32)
    path = tmp_path / "be.npz"
    np.savez(path, **stored)
    with zipfile.ZipFile(path) as zf:  # the file really holds big-endian headers
        assert b"'descr': '>f4'" in zf.read("conv/weight.npy")[:128]
        assert b"'fortran_order': True" in zf.read("fc/weight.npy")[:128]
    other = small_model(seed=6)
    other.load_weights(path)
    for key, w in other.get_weights().items():
        assert w.dtype == np.float32 and w.dtype.isnative and w.flags.c_contiguous, key
        np.testing.assert_array_equal(w, want[key], err_msg=key)
    model.set_weights(want)
    x = np.random.default_rng(1).standard_normal((3, 2, 6, 6))
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def test_protocol_0_pickle_is_refused_and_not_executed(tmp_path, no_array_read):
    # A text pickle does not start with the binary protocols' 0x80: refused all the same, by its
    # first bytes, with nothing unpickled.
    marker = tmp_path / "executed"
    path = tmp_path / "weights.npz"
    path.write_bytes(pickle.dumps({"conv/weight": Marker(marker)}, protocol=0))
    with pytest.raises(ValueError, match=r"load_weights: .*weights.npz is not an .npz file"):
        small_model().load_weights(path)
    assert not marker.exists()
    # The same pickle as an .npy member declaring an object dtype: refused by its header.
    members = npz_members(arrays_of(small_model()))
    members["conv/weight.npy"] = npy_bytes(
        {"descr": "|O", "fortran_order": False, "shape": (3, 2, 3, 3)},
        pickle.dumps(Marker(marker), protocol=0))
    write_zip(path, members)
    with pytest.raises(ValueError, match=r"array 'conv/weight' for Conv2D 'conv' in .* has dtype "
                                         r"object"):
        small_model().load_weights(path)
    assert not marker.exists()
