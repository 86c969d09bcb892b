"""The figure of ``docs/adc.md``: where a layer's column sums fall against the codes each ADC range offers.

``python -m dse.experiments.adc_codes docs/img/adc_codes.png [--workload mlp-digits] [--layer fc2] [--adc-bits 8]``
maps the workload at the default design (128-row tiles of 2-bit cells, 1-bit DACs, differential), takes
every fault-free column sum its calibration inputs produce in one layer (each bit line, row tile and
input cycle; the calibration slice, never the test split) and draws their distribution with the span
and step of the ``full``, ``clip`` and flipped ``full`` ranges at ``adc_bits``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from dse.config import HardwareConfig


def column_sums(workload_name: str, layer_name: str, hw: HardwareConfig) -> tuple[np.ndarray, int]:
    """Counts of every fault-free column sum (index = sum) of one layer on calibration inputs, and its width."""
    from dse.mapping import ADC_CALIBRATION_SAMPLES, layer_inputs, map_network
    from dse.workloads import load_workload
    from kernels import column_sum_histogram, full_scale, pack_inputs, pack_levels

    workload = load_workload(workload_name)
    net = map_network(workload, hw)
    by_name = {m.name: m for m in net.layers.values()}
    if layer_name not in by_name:
        raise ValueError(f"layer must be one of {', '.join(by_name)}; got {layer_name!r}")
    mapped = by_name[layer_name]
    cols = layer_inputs(workload, workload.x_calib[:ADC_CALIBRATION_SAMPLES])[mapped.index]
    x_int = mapped.quantize_inputs(cols, hw)
    return column_sum_histogram(
        pack_inputs(x_int, hw.rows, hw.input_bits, hw.dac_bits), pack_levels(mapped.bitline_levels, hw.rows, hw.cell_bits),
        input_bits=hw.input_bits, dac_bits=hw.dac_bits, cell_bits=hw.cell_bits,
        full_scale=full_scale(hw.rows, hw.cell_bits, hw.dac_bits))


def plot(path: str, workload_name: str = "mlp-digits", layer_name: str = "fc2", adc_bits: int = 8) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kernels import full_range_step, full_scale

    hw = HardwareConfig(adc_bits=adc_bits)
    counts, width = column_sums(workload_name, layer_name, hw)
    if width != 1:
        raise ValueError(f"the histogram needs one bin per column sum; got bins of {width}")
    driven = counts.copy()
    driven[0] = 0  # a bit line with nothing driven, or only zero levels, converts 0 on any range
    share = driven / driven.sum()
    fs = full_scale(hw.rows, hw.cell_bits, hw.dac_bits)
    top = (1 << adc_bits) - 1
    full_step = full_range_step(hw.rows, hw.cell_bits, hw.dac_bits, adc_bits)
    flip_fs = full_scale(hw.rows, hw.cell_bits, hw.dac_bits, weight_flip=True)
    p9999 = int(np.searchsorted(np.cumsum(counts), 0.9999 * counts.sum()))

    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=120)
    sums = np.arange(len(share))
    ax.bar(sums[1:], share[1:], width=1.0, color="#444444", label=f"{workload_name} {layer_name}: column sums > 0")
    ax.set_yscale("log")
    ymax = share.max() * 3
    spans = [(f"full, {adc_bits}-bit: step {full_step}, codes up to {top * full_step} (FS {fs})", top * full_step,
              "#d62728", 0.10),
             (f"clip, {adc_bits}-bit: step 1, saturates above {top}", top, "#1f77b4", 0.16),
             (f"flipped FS {flip_fs} (weight_flip)", flip_fs, "#2ca02c", 0.0)]
    for label, right, color, alpha in spans:
        if alpha:
            ax.axvspan(0, right, color=color, alpha=alpha, label=label)
        else:
            ax.axvline(right, color=color, lw=1.5, ls="--", label=label)
    ax.axvline(fs, color="#d62728", lw=1.0, label=f"largest possible sum {fs} (128 rows x level 3)")
    ax.axvline(p9999, color="black", lw=1.0, ls=":", label=f"99.99th percentile: {p9999}")
    ax.set_xlim(0, top * full_step + 10)
    ax.set_ylim(share[share > 0].min() / 2, ymax)
    ax.set_xlabel("column sum v (cell levels x DAC levels, integer units)")
    ax.set_ylabel("share of conversions (v > 0)")
    ax.set_title(f"Where column sums fall: 128 rows, 2-bit cells, 1-bit DAC, {adc_bits}-bit ADC", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return (f"{path}: {int(counts.sum())} column sums, {counts[0] / counts.sum():.1%} zero, 99.99th percentile {p9999}, "
            f"max {int(np.flatnonzero(counts).max())}; full range step {full_step}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dse.experiments.adc_codes", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="PNG to write")
    parser.add_argument("--workload", default="mlp-digits")
    parser.add_argument("--layer", default="fc2")
    parser.add_argument("--adc-bits", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        print(plot(args.path, args.workload, args.layer, args.adc_bits))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
