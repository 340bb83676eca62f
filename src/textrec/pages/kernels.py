"""The detector's target and its inverse. Each line box is shrunk to a *kernel* (SHRINK of its height, the
same margin off its ends) so adjacent lines never touch in the map; a detected kernel is grown back by the
same rule. Training draws targets with `kernel_map`; inference reads boxes with `boxes_from_map`."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from textrec.pages.geometry import Box, Quad, box_from_quad

SHRINK = 0.5
# a kernel pixel is p > THRESHOLD; a component is a line if its mean p > MIN_SCORE (chosen on SROIE pages 225-239,
# held out from the detector's training: F1 0.93 there vs 0.83 at 0.5/0.6)
THRESHOLD = 0.7
MIN_SCORE = 0.9


def kernel_of(box: Box) -> Box:
    margin = (1 - SHRINK) * box.height / 2
    return Box(box.cx, box.cy, max(box.width - 2 * margin, SHRINK * box.height), SHRINK * box.height, box.angle)


def grow(kernel: Box) -> Box:
    height = kernel.height / SHRINK
    return Box(kernel.cx, kernel.cy, kernel.width + (1 - SHRINK) * height, height, kernel.angle)


def kernel_map(quads: list[Quad], size: tuple[int, int], stride: int) -> np.ndarray:
    """A (H/stride, W/stride) uint8 map: 1 inside some line's kernel. `size` is the input's (width, height)."""
    w, h = size[0] // stride, size[1] // stride
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for quad in quads:
        kernel = kernel_of(box_from_quad(quad)).quad()
        # map pixel j covers input [j*stride, (j+1)*stride): continuous coordinates shift by half a pixel
        draw.polygon([(kernel[i] / stride - 0.5, kernel[i + 1] / stride - 0.5) for i in range(0, 8, 2)], fill=1)
    return np.asarray(canvas, dtype=np.uint8)


def boxes_from_map(probability: np.ndarray, stride: int, threshold: float = THRESHOLD, min_score: float = MIN_SCORE,
                   min_pixels: int = 3, max_angle: float = math.radians(25)) -> list[tuple[Box, float]]:
    """Connected kernels -> grown line boxes in input pixels, each with its mean kernel probability."""
    labels, count = ndimage.label(probability > threshold)
    boxes = []
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        if region is None:
            continue
        ys, xs = np.nonzero(labels[region] == index)
        if len(ys) < min_pixels:
            continue
        score = float(probability[region][ys, xs].mean())
        if score < min_score:
            continue
        xs = xs + region[1].start + 0.5  # pixel centres, map units
        ys = ys + region[0].start + 0.5
        box = _oriented_extent(xs, ys, max_angle)
        boxes.append((grow(Box(box.cx * stride, box.cy * stride, box.width * stride, box.height * stride, box.angle)),
                      score))
    return boxes


def _oriented_extent(xs: np.ndarray, ys: np.ndarray, max_angle: float) -> Box:
    """The smallest rectangle along the component's main axis (its angle kept near horizontal: a short kernel
    of one or two characters has no reliable axis of its own)."""
    angle = 0.0
    if len(xs) >= 6 and np.ptp(xs) > 2 * max(np.ptp(ys), 1):
        cov = np.cov(np.stack([xs, ys]))
        angle = 0.5 * math.atan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1])
        if abs(angle) > max_angle:
            angle = 0.0
    ux, uy = math.cos(angle), math.sin(angle)
    along = xs * ux + ys * uy
    across = -xs * uy + ys * ux
    # centre to centre of the outermost pixels: the rasterised kernel covers about one map pixel more than its
    # true extent (measured on SROIE boxes drawn and read back)
    a0, a1, b0, b1 = along.min(), along.max(), across.min(), across.max()
    ca, cb = (a0 + a1) / 2, (b0 + b1) / 2
    return Box(ca * ux - cb * uy, ca * uy + cb * ux, a1 - a0, b1 - b0, angle)
