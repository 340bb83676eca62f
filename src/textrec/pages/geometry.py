"""Quads (x1, y1, ..., x4, y4 clockwise from top-left) as oriented rectangles, and their overlap."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from textrec.errors import TextrecError

Quad = tuple[float, float, float, float, float, float, float, float]


@dataclass(frozen=True)
class Box:
    """An oriented rectangle: centre, size along/across the text, angle of the text direction (radians)."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float

    def quad(self) -> Quad:
        ux, uy = math.cos(self.angle), math.sin(self.angle)  # along the text
        vx, vy = -uy, ux  # down the page
        hw, hh = self.width / 2, self.height / 2
        corners = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
        return tuple(v for a, b in corners for v in (self.cx + a * ux + b * vx, self.cy + a * uy + b * vy))  # type: ignore

    def scaled(self, sx: float, sy: float) -> "Box":
        """The same box in a page scaled by (sx, sy) (angles stay small, so this is close enough)."""
        along = math.hypot(math.cos(self.angle) * sx, math.sin(self.angle) * sy)
        across = math.hypot(math.sin(self.angle) * sx, math.cos(self.angle) * sy)
        angle = math.atan2(math.sin(self.angle) * sy, math.cos(self.angle) * sx)
        return Box(self.cx * sx, self.cy * sy, self.width * along, self.height * across, angle)


def box_from_quad(quad: Quad) -> Box:
    p = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    top, bottom = p[1] - p[0], p[2] - p[3]
    direction = top + bottom
    angle = math.atan2(direction[1], direction[0])
    width = (np.linalg.norm(top) + np.linalg.norm(bottom)) / 2
    height = (np.linalg.norm(p[3] - p[0]) + np.linalg.norm(p[2] - p[1])) / 2
    cx, cy = p.mean(axis=0)
    return Box(float(cx), float(cy), float(width), float(height), angle)


def _clip(polygon: list[tuple[float, float]], a: tuple[float, float],
          b: tuple[float, float]) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of a polygon on the left of edge a->b (clockwise on screen = inside)."""
    def side(p: tuple[float, float]) -> float:
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])

    out: list[tuple[float, float]] = []
    for i, current in enumerate(polygon):
        previous = polygon[i - 1]
        s_cur, s_prev = side(current), side(previous)
        if s_cur >= 0:
            if s_prev < 0:
                out.append(_cross(previous, current, s_prev, s_cur))
            out.append(current)
        elif s_prev >= 0:
            out.append(_cross(previous, current, s_prev, s_cur))
    return out


def _cross(p, q, sp, sq):
    t = sp / (sp - sq)
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))


def area(polygon: list[tuple[float, float]]) -> float:
    return abs(sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(polygon, polygon[1:] + polygon[:1]))) / 2


def _points(quad: Quad) -> list[tuple[float, float]]:
    points = [(float(quad[i]), float(quad[i + 1])) for i in range(0, 8, 2)]
    signed = sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(points, points[1:] + points[:1]))
    return points if signed >= 0 else points[::-1]  # clockwise on screen (y down)


def intersection(a: Quad, b: Quad) -> float:
    """The area two convex quads share (exact polygon clipping, no rasterising)."""
    pb = _points(b)
    inter = _points(a)
    for i in range(4):
        if not inter:
            break
        inter = _clip(inter, pb[i], pb[(i + 1) % 4])
    return area(inter) if len(inter) >= 3 else 0.0


def iou(a: Quad, b: Quad) -> float:
    """Intersection over union of two convex quads."""
    overlap = intersection(a, b)
    union = area(_points(a)) + area(_points(b)) - overlap
    return overlap / union if union > 0 else 0.0


def crop_quad(page: Image.Image, quad: Quad) -> Image.Image:
    """Cut a quadrilateral (clockwise from top-left) out of a page and warp it to an upright rectangle.
    A quad that cannot be a line of this page (not finite, off the page, larger than it) is an error."""
    if not all(math.isfinite(v) for v in quad):
        raise TextrecError(f"quad {quad} has a coordinate that is not a finite number")
    xs, ys = quad[0::2], quad[1::2]
    if max(xs) < 0 or max(ys) < 0 or min(xs) > page.width or min(ys) > page.height:
        raise TextrecError(f"quad {quad} lies outside the {page.width}x{page.height} page")
    tl, tr, br, bl = (quad[0], quad[1]), (quad[2], quad[3]), (quad[4], quad[5]), (quad[6], quad[7])

    def dist(a: tuple[float, float], b: tuple[float, float]) -> float:
        return math.hypot(a[0] - b[0], a[1] - b[1])

    width, height = (dist(tl, tr) + dist(bl, br)) / 2, (dist(tl, bl) + dist(tr, br)) / 2
    diagonal = math.hypot(page.width, page.height)
    if width > 2 * diagonal or height > 2 * diagonal:
        raise TextrecError(f"quad {quad} is larger than its {page.width}x{page.height} page")
    width, height = max(1, round(width)), max(1, round(height))
    # PIL's QUAD data is upper-left, lower-left, lower-right, upper-right.
    data = (*tl, *bl, *br, *tr)
    return page.transform((width, height), Image.Transform.QUAD, data, Image.Resampling.BILINEAR, fillcolor=255)


def point_before_turn(x: float, y: float, turned: int, width: int, height: int) -> tuple[float, float]:
    """Where a point of an image turned `turned` degrees counter-clockwise (PIL's rotate with expand) lies in
    the width x height image before the turn."""
    if turned == 90:  # the turned image's x runs down the original, its y right to left
        return width - y, x
    if turned == 180:
        return width - x, height - y
    if turned == 270:
        return y, height - x
    return x, y
