"""Sequential's forward pass: inputs it takes, batching, dtypes, errors; the lecture's network on
the shipped digits."""

from __future__ import annotations

import numpy as np
import pytest

import cnncore as cc
from cnncore import nn, reference


def conv_model(seed=0):
    return nn.Sequential([
        nn.Input((1, 12, 12)),
        nn.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        nn.MaxPool2D(2, name="pool"),
        nn.Dense(5, activation="softmax", name="fc"),
    ], seed=seed)


def numpy_forward(model, x):
    """The same network written out with cnncore.reference and NumPy, in float64."""
    w = model.get_weights()
    y = reference.relu(reference.conv2d(x.astype(np.float64), w["conv/weight"], w["conv/bias"],
                                        padding="same"))
    y = reference.max_pool2d(y, 2).reshape(len(x), -1) @ w["fc/weight"].T.astype(np.float64)
    y += w["fc/bias"]
    e = np.exp(y - y.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_predict_equals_the_network_written_out_with_the_reference():
    model = conv_model()
    x = np.random.default_rng(1).standard_normal((9, 1, 12, 12)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), numpy_forward(model, x), rtol=1e-5, atol=1e-6)


def test_inputs_with_or_without_the_channel_axis_any_real_dtype():
    model = conv_model()
    x = np.random.default_rng(2).integers(0, 255, (6, 12, 12)).astype(np.uint8)
    want = model.predict(x.astype(np.float32)[:, None])
    for variant in (x, x[:, None], x.astype(np.int64), x.astype(np.float64), x.tolist(),
                    np.asfortranarray(x), x[::-1][::-1]):
        got = model.predict(variant)
        assert got.dtype == np.float32 and got.shape == (6, 5)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model(x), want)  # calling the model is predict


@pytest.mark.parametrize("batch_size", [1, 2, 5, 7, 1024, None])
def test_batch_size_does_not_change_the_result(batch_size):
    model = conv_model()
    x = np.random.default_rng(3).standard_normal((7, 12, 12))
    np.testing.assert_allclose(model.predict(x, batch_size=batch_size), model.predict(x),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("batch_size", [7, 8, 1024, np.int64(7), 3, 1])
def test_float32_batches_give_the_same_bits_whatever_the_batch_size(batch_size):
    # A float32 batch that fits one pass (batch_size None or >= N) goes straight to the engine;
    # the others are cut into batches: every sample's numbers are the same.
    model = conv_model()
    x = np.random.default_rng(4).standard_normal((7, 1, 12, 12)).astype(np.float32)
    assert model.predict(x, batch_size=batch_size).tobytes() == model.predict(x).tobytes()


@pytest.mark.parametrize("units", [8, 40, 100, 113])
def test_dense_layers_at_batch_1_give_the_bits_of_a_batch(units):
    # At batch 1 a dense layer is a matrix-vector product run several 16-unit panels at a time;
    # in a batch, the 6-sample GEMM tiles: per unit the same sums, so the same bits.
    model = nn.Sequential([nn.Input((3, 10, 10)), nn.Conv2D(8, 3, activation="relu", name="c"),
                           nn.Flatten(), nn.Dense(units, activation="relu", name="d1"),
                           nn.Dense(12, name="d2")], seed=5)
    x = np.random.default_rng(6).standard_normal((9, 3, 10, 10)).astype(np.float32)
    whole = model.predict(x)
    for i in range(len(x)):
        assert model.predict(x[i:i + 1]).tobytes() == whole[i:i + 1].tobytes(), i
    w = {k: v.astype(np.float64) for k, v in model.get_weights().items()}
    h = reference.relu(reference.conv2d(x.astype(np.float64), w["c/weight"], w["c/bias"]))
    h = reference.relu(h.reshape(len(x), -1) @ w["d1/weight"].T + w["d1/bias"])
    np.testing.assert_allclose(whole, h @ w["d2/weight"].T + w["d2/bias"], rtol=1e-4, atol=1e-4)


def test_an_empty_batch_gives_an_empty_result():
    assert conv_model().predict(np.zeros((0, 12, 12))).shape == (0, 5)


def test_threads_do_not_change_the_result():
    model = conv_model()
    x = np.random.default_rng(4).standard_normal((16, 12, 12))
    before = cc.get_num_threads()
    try:
        cc.set_num_threads(1)
        one = model.predict(x)
        cc.set_num_threads(2)
        two = model.predict(x)
    finally:
        cc.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("x, batch_size, error, match", [
    (np.zeros((12, 12)), None, ValueError,
     r"predict: x must have shape \(N, 1, 12, 12\) or \(N, 12, 12\), a batch of the model's "
     r"input, got \(12, 12\)"),
    (np.zeros((2, 3, 12, 12)), None, ValueError, r"predict: x must have shape \(N, 1, 12, 12\)"),
    (np.zeros((2, 12, 12), complex), None, TypeError,
     r"predict: x must hold real numbers \(bool, int, uint or float\), got dtype complex128"),
    (np.zeros((2, 12, 12)), 0, ValueError, r"predict: batch_size must be >= 1, got 0"),
    (np.zeros((2, 12, 12)), 2.0, TypeError, r"predict: batch_size must be a positive integer"),
])
def test_predict_errors(x, batch_size, error, match):
    with pytest.raises(error, match=match):
        conv_model().predict(x, batch_size=batch_size)


def test_activations_are_every_layers_output():
    model = conv_model()
    x = np.random.default_rng(5).standard_normal((3, 12, 12))
    outs = model.activations(x)
    assert [o.shape for o in outs] == [(3, 1, 12, 12), (3, 4, 12, 12), (3, 4, 6, 6), (3, 5)]
    # predict runs the compiled forward pass: the same operators, so the same numbers up to the
    # last float32 ulp (a softmax's exp is computed by the C++ library there, by NumPy here).
    np.testing.assert_allclose(outs[-1], model.predict(x), rtol=1e-6, atol=1e-7)
    assert (outs[1] >= 0).all()


def test_layers_by_position_and_name_and_a_readable_repr():
    model = conv_model()
    assert model["conv"] is model[1] and len(model) == 4
    assert model.input_shape == (1, 12, 12) and model.output_shape == (5,)
    with pytest.raises(KeyError, match="no layer named 'nope'"):
        model["nope"]
    text = repr(model)
    assert text.startswith("Sequential([\n    Input(name='input_1', shape=[1, 12, 12]),")
    assert "Conv2D(name='conv', filters=4, kernel_size=3" in text


def test_the_lecture_model_reads_the_held_out_digits():
    model = nn.lecture_model()
    images, labels = nn.load_digits()
    probs = model.predict(images / 255, batch_size=250)
    assert probs.shape == (1000, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert (probs.argmax(axis=1) == labels).mean() >= 0.96
    # Every class is present among the held-out digits and mostly recognised.
    for digit in range(10):
        mine = labels == digit
        assert mine.sum() >= 50 and (probs[mine].argmax(1) == digit).mean() >= 0.9


def test_an_untrained_lecture_model_is_seeded():
    a = nn.lecture_model(pretrained=False, seed=5)
    b = nn.lecture_model(pretrained=False, seed=5)
    np.testing.assert_array_equal(a.get_weights()["CONV1/weight"], b.get_weights()["CONV1/weight"])
    assert not np.array_equal(a.get_weights()["FC3/weight"],
                              nn.lecture_model().get_weights()["FC3/weight"])


@pytest.mark.parametrize("act", [nn.ReLU, lambda: nn.LeakyReLU(0.2), lambda: nn.ELU(0.7)])
@pytest.mark.parametrize("filters", [3, 16, 20])  # plane-filter path, and GEMM panels full and partial
def test_activations_fused_into_convolutions_change_no_bit(simd, act, filters):
    # predict runs each activation inside the convolution before it (per band, while in cache):
    # the numbers must be those of the separate operators, to the bit, on every kernel path.
    model = nn.Sequential([
        nn.Input((2, 13, 11)),
        nn.Conv2D(filters, 3, padding="same", activation=act(), name="c1"),
        nn.Conv2D(8, (2, 3), stride=(1, 2), activation=act(), name="c2"),
        nn.Flatten(),
        nn.Dense(7, activation=act(), name="fc"),
    ], seed=3)
    w = model.get_weights()
    x = np.random.default_rng(4).standard_normal((5, 2, 13, 11)).astype(np.float32)
    x[0, 0, 3, 4] = np.nan  # NaN goes through the fused activation as through the operator
    layer = act()
    a = layer.forward(cc.conv2d(x, w["c1/weight"], w["c1/bias"], padding="same"))
    a = layer.forward(cc.conv2d(a, w["c2/weight"], w["c2/bias"], stride=(1, 2)))
    # The dense layer runs as a 1x1 convolution whose pixels are the samples.
    want = layer.forward(cc.conv2d(a.reshape(5, -1).T[None, :, None, :].copy(),
                                   w["fc/weight"][:, :, None, None], w["fc/bias"]))[0, :, 0, :].T
    got = model.predict(x)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[0]).all() and np.isfinite(got[1:]).all()
