"""``cnncore demo`` and ``cnncore summary``: the lecture's network on real digits, and model tables.

``cnncore demo [--out DIR] [--threads N]`` prints the lecture model's table, classifies the 1,000
held-out MNIST digits that ship with cnncore, prints the accuracy, the confusion matrix and the
images per second at batch 1 and 256, and writes two PNG files into ``DIR`` (default
``./cnncore-demo``): ``digits.png``, sample digits with their predicted labels (green when right,
red with the true label when wrong), and ``feature_maps.png``, one digit and the 16 feature maps
CONV1 computes from it. It needs NumPy only: no network, no PyTorch, no Pillow.

``cnncore summary [FILE] [--order hwc|chw]`` prints the complexity table of the lecture's model, or
of the model described in ``FILE``, a ``.json`` file (or ``.toml`` on Python 3.11+). The format is
the one :meth:`cnncore.nn.Sequential.get_config` writes (see :mod:`cnncore.nn.config`)::

    {"name": "tiny",
     "layers": [{"type": "Input", "shape": [28, 28, 1], "order": "hwc"},
                {"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu"},
                {"type": "MaxPool2D", "kernel_size": 2},
                {"type": "Dense", "units": 10, "activation": "softmax"}]}

``examples/lecture_model.json`` and ``examples/lecture_model.toml`` in the repository describe the
lecture's model. A file that cannot be read or does not describe a valid model gives a one-line
error and exit status 1.
"""

from __future__ import annotations

import os
import time

import numpy as np

DEMO_BATCH = 256
BATCH1_IMAGES = 100  # images timed one at a time


def _rate(model, x, batch_size, repeats, times=()):
    """Images per second: the median of ``repeats`` more timed runs over ``x`` and ``times``."""
    times = list(times)
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict(x, batch_size=batch_size)
        times.append(time.perf_counter() - t0)
    return len(x) / float(np.median(times))


def _confusion(labels, predicted, classes=10):
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def _format_confusion(matrix) -> str:
    classes = len(matrix)
    lines = ["confusion matrix (rows: true digit, columns: predicted)",
             "      " + "".join(f"{j:>5}" for j in range(classes))]
    for i, row in enumerate(matrix):
        lines.append(f"  {i:>2}  " + "".join(f"{v:>5}" for v in row))
    return "\n".join(lines)


def _digits_picture(images, labels, predicted, columns=10, rows=5, zoom=2):
    """Sample digits, each above its predicted label; the last row shows mistakes first."""
    from cnncore.nn._png import GLYPH_HEIGHT, draw_text

    wrong = [int(i) for i in np.flatnonzero(predicted != labels)[:columns]]
    others = [i for i in range(len(images)) if i not in wrong]
    picks = others[:columns * rows - len(wrong)] + wrong
    side = 28 * zoom
    cell_w, cell_h = side + 8, side + 2 * GLYPH_HEIGHT + 12
    canvas = np.full((rows * cell_h + 4, columns * cell_w + 4, 3), 24, np.uint8)
    for k, i in enumerate(picks):
        r, c = divmod(k, columns)
        top, left = 4 + r * cell_h, 4 + c * cell_w
        digit = np.kron(images[i], np.ones((zoom, zoom), np.uint8))
        canvas[top:top + side, left:left + side] = digit[..., None]
        ok = predicted[i] == labels[i]
        text = f"{predicted[i]}" if ok else f"{predicted[i]}/{labels[i]}"
        color = (80, 220, 100) if ok else (240, 70, 60)
        draw_text(canvas, text, top + side + 4, left + 2, color, scale=2)
    return canvas


def _feature_picture(image, maps, zoom=3):
    """One digit (left) and its feature maps in a grid (right), each map scaled to its maximum."""
    n = len(maps)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    side = maps.shape[-1] * zoom
    gap = 6
    grid_h = rows * side + (rows - 1) * gap
    digit_side = min(grid_h, 28 * 4)
    width = gap + digit_side + 3 * gap + cols * side + (cols - 1) * gap + gap
    canvas = np.full((grid_h + 2 * gap, width), 40, np.uint8)
    dz = digit_side // 28
    digit = np.kron(image, np.ones((dz, dz), np.uint8))
    top = gap + (grid_h - digit.shape[0]) // 2
    canvas[top:top + digit.shape[0], gap:gap + digit.shape[1]] = digit
    left0 = gap + digit_side + 3 * gap
    for k, fmap in enumerate(maps):
        r, c = divmod(k, cols)
        peak = float(fmap.max())
        scaled = np.zeros(fmap.shape, np.uint8) if peak <= 0 else \
            np.clip(fmap / peak * 255, 0, 255).astype(np.uint8)
        y, x = gap + r * (side + gap), left0 + c * (side + gap)
        canvas[y:y + side, x:x + side] = np.kron(scaled, np.ones((zoom, zoom), np.uint8))
    return canvas


def demo(args) -> int:
    import cnncore as cc
    from cnncore import nn
    from cnncore.nn._png import write_png

    if args.threads is not None:
        cc.set_num_threads(args.threads)
    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)

    model = nn.lecture_model()
    print(model.summary())
    print()
    images, labels = nn.load_digits()
    x = images.astype(np.float32) / 255
    t0 = time.perf_counter()
    probs = model.predict(x, batch_size=DEMO_BATCH)
    first_run = time.perf_counter() - t0
    predicted = probs.argmax(axis=1)
    correct = int((predicted == labels).sum())
    print(f"classified the {len(labels):,} held-out MNIST digits in {first_run:.2f} s "
          f"({cc.get_num_threads()} thread(s))")
    print(f"accuracy: {correct / len(labels):.3f} ({correct} of {len(labels):,} right)")
    print()
    print(_format_confusion(_confusion(labels, predicted)))
    print()
    rate1 = _rate(model, x[:BATCH1_IMAGES], 1, 3)
    rate256 = _rate(model, x, DEMO_BATCH, 2, times=[first_run])
    print(f"images per second: {rate1:,.0f} at batch 1, {rate256:,.0f} at batch {DEMO_BATCH} "
          f"(median of 3 runs)")

    digits_png = os.path.join(out_dir, "digits.png")
    write_png(digits_png, _digits_picture(images, labels, predicted))
    sample = int(np.flatnonzero(labels == 8)[0]) if (labels == 8).any() else 0
    maps = model.activations(x[sample:sample + 1])[1][0]  # CONV1's output, after its ReLU
    features_png = os.path.join(out_dir, "feature_maps.png")
    write_png(features_png, _feature_picture(images[sample], maps))
    print()
    print(f"wrote {digits_png}: sample digits and their predictions (wrong ones: predicted/true)")
    print(f"wrote {features_png}: digit #{sample} (a {labels[sample]}) and CONV1's "
          f"{len(maps)} feature maps")
    return 0


def summary(args) -> int:
    from cnncore import nn

    if args.file is None:
        model = nn.lecture_model(pretrained=False, seed=None)
    else:
        model = nn.load_model_file(args.file)
    print(model.summary(order=args.order))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="the lecture's network on 1,000 real handwritten digits",
        description="Print the lecture model's table, classify the 1,000 held-out MNIST digits "
                    "shipped with cnncore, print the accuracy, the confusion matrix and the images "
                    "per second, and save two PNG pictures.")
    p.add_argument("--out", default="cnncore-demo", metavar="DIR",
                   help="folder for the PNG files (default: ./cnncore-demo)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads for the core (default: OpenMP's)")
    p.set_defaults(func=demo)

    p = sub.add_parser(
        "summary", help="the complexity table of the lecture's model or of a model file",
        description="Print per layer the activation shape and size, the parameters and the "
                    "multiply-accumulates, and the totals, for the lecture's model or for a model "
                    "described in a JSON (or, on Python 3.11+, TOML) file.")
    p.add_argument("file", nargs="?", default=None,
                   help="a .json or .toml model description (default: the lecture's model)")
    p.add_argument("--order", choices=("hwc", "chw"), default="hwc",
                   help="shape order: hwc, the lecture's (H, W, C) (default), or chw")
    p.set_defaults(func=summary)
