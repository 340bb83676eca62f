"""Reading order by recursive XY-cut on the line boxes (in the deskewed frame): at each level cut at the widest
gap, across the page (between bands) or down it (between columns); a region with no gap worth cutting is a
block, read row by row, left to right. Gaps are measured in line heights so it works at any scale. A gap down
the page between *short* runs (a receipt's quantities, prices, amounts) is a table's, read across, not columns."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_GAP = 0.8  # a vertical gap of this many line heights starts a new block
COLUMN_GAP = 0.75  # a horizontal gap down the whole region, this wide, separates columns...
COLUMN_LINE = 4.0  # ...when the lines on both sides are text, this many line heights long (median), not cells


@dataclass(frozen=True)
class Extent:
    left: float
    top: float
    right: float
    bottom: float


def reading_order(extents: list[Extent]) -> tuple[list[int], list[int]]:
    """Indices of the lines in reading order, and the block number of each line in that order."""
    if not extents:
        return [], []
    height = float(np.median([e.bottom - e.top for e in extents])) or 1.0
    blocks: list[list[int]] = []
    _cut(list(range(len(extents))), extents, height, blocks)
    order, numbers = [], []
    for number, block in enumerate(blocks):
        order += block
        numbers += [number] * len(block)
    return order, numbers


def _gaps(intervals: list[tuple[float, float, int]]) -> list[tuple[float, float]]:
    """(gap width, cut position) between the merged intervals."""
    intervals = sorted(intervals)
    gaps, end = [], intervals[0][1]
    for start, stop, _ in intervals[1:]:
        if start > end:
            gaps.append((start - end, (start + end) / 2))
        end = max(end, stop)
    return gaps


def _cut(indices: list[int], extents: list[Extent], height: float, blocks: list[list[int]]) -> None:
    if len(indices) == 1:
        blocks.append(indices)
        return
    # overlap of a quarter line height or less does not join bands (rotated boxes of adjacent lines touch)
    slack = 0.25 * height
    rows = [(gap - 2 * slack, at) for gap, at in
            _gaps([(extents[i].top + slack, extents[i].bottom - slack, i) for i in indices])]
    cols = [g for g in _gaps([(extents[i].left, extents[i].right, i) for i in indices])
            if g[0] >= COLUMN_GAP * height and _text_on_both_sides(indices, extents, g[1], height)]
    best_row = max(rows, default=(0.0, 0.0))
    best_col = max(cols, default=(0.0, 0.0))
    if best_col[0] > 0 and best_col[0] >= best_row[0]:
        at = best_col[1]
        parts = [[i for i in indices if (extents[i].left + extents[i].right) / 2 < at],
                 [i for i in indices if (extents[i].left + extents[i].right) / 2 >= at]]
    elif best_row[0] >= height * BLOCK_GAP:
        at = best_row[1]
        parts = [[i for i in indices if (extents[i].top + extents[i].bottom) / 2 < at],
                 [i for i in indices if (extents[i].top + extents[i].bottom) / 2 >= at]]
    else:
        blocks.append(_rows(indices, extents, height))
        return
    for part in parts:
        if part:
            _cut(part, extents, height, blocks)


def _text_on_both_sides(indices: list[int], extents: list[Extent], at: float, height: float) -> bool:
    sides = ([extents[i].right - extents[i].left for i in indices if extents[i].right <= at],
             [extents[i].right - extents[i].left for i in indices if extents[i].left >= at])
    return all(len(side) >= 2 and float(np.median(side)) >= COLUMN_LINE * height for side in sides)


def _rows(indices: list[int], extents: list[Extent], height: float) -> list[int]:
    """A block's lines row by row (runs whose vertical centres lie within half a line height), left to right."""
    by_centre = sorted(indices, key=lambda i: (extents[i].top + extents[i].bottom) / 2)
    rows: list[list[tuple[float, int]]] = []
    for i in by_centre:
        centre = (extents[i].top + extents[i].bottom) / 2
        if rows and abs(centre - rows[-1][-1][0]) < 0.5 * height:
            rows[-1].append((centre, i))
        else:
            rows.append([(centre, i)])
    return [i for row in rows for _, i in sorted(row, key=lambda item: extents[item[1]].left)]
