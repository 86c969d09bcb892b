"""How a weight matrix occupies physical crossbars: the numbers the cost model and reports read.

A layer computes ``y = x @ W`` with ``W`` of shape (in, out). Rows (word lines) carry inputs, columns
(bit lines) carry outputs. Each (array, slice, output column) is one physical bit line
(``docs/crossbar.md``). Protection schemes add bit lines (duplicated copies placed in freed
columns, or spare crossbars); pruning removes rows and columns before layout.
"""
from __future__ import annotations

from dataclasses import dataclass

from dse.config import HardwareConfig


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class LayerLayout:
    """Physical footprint of one mapped layer.

    name             layer name
    in_features      word lines driven per matrix-vector product (after row pruning)
    out_features     logical outputs (after column pruning)
    bitlines         physical bit lines read per row tile, copies included
    copy_bitlines    of those, bit lines that hold duplicated copies (voted digitally)
    row_tiles        crossbar rows of tiles: ceil(in_features / rows)
    crossbars        crossbars used, spare crossbars included
    spare_crossbars  crossbars added only to hold redundant copies (a cost, unlike zero-space copies)
    mvms_per_inference  matrix-vector products per inference (1 for a linear layer, output positions
                     for a convolution through im2col)
    weights          logical weights mapped (in_features * out_features)
    """

    name: str
    in_features: int
    out_features: int
    bitlines: int
    copy_bitlines: int
    row_tiles: int
    crossbars: int
    spare_crossbars: int
    mvms_per_inference: int
    weights: int

    def adc_conversions(self, hw: HardwareConfig) -> int:
        """ADC conversions per inference: every bit line of every row tile, every input cycle."""
        return self.mvms_per_inference * hw.cycles * self.row_tiles * self.bitlines

    def macs(self) -> int:
        """Logical multiply-accumulates per inference."""
        return self.mvms_per_inference * self.weights


def plain_layout(
    name: str, in_features: int, out_features: int, hw: HardwareConfig, mvms_per_inference: int = 1
) -> LayerLayout:
    """Layout of an unprotected layer: ``ceil(in/rows) * ceil(out*S*A/cols)`` crossbars (spec)."""
    if in_features < 1 or out_features < 1:
        raise ValueError(f"layer {name!r} must keep at least one row and one column")
    bitlines = out_features * hw.slices * hw.arrays
    row_tiles = ceil_div(in_features, hw.rows)
    return LayerLayout(
        name=name,
        in_features=in_features,
        out_features=out_features,
        bitlines=bitlines,
        copy_bitlines=0,
        row_tiles=row_tiles,
        crossbars=row_tiles * ceil_div(bitlines, hw.cols),
        spare_crossbars=0,
        mvms_per_inference=mvms_per_inference,
        weights=in_features * out_features,
    )
