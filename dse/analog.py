"""Analog non-idealities on simulated chips: from :class:`dse.config.AnalogEffects` to the float path.

Each chip draws its own programming variation (one standard normal per cell) and its own ADC errors,
per layer, from generators seeded by ``(seed, chip, layer, stream)``; read noise comes from a
counter-based stream keyed the same way. The streams are separate from the fault maps' generator
``(seed, chip, layer)``, so switching an effect on or off leaves every chip's stuck-at faults as they
were, and the variation of a cell does not depend on whether it is stuck. The physics and the order of
the effects are documented in :mod:`kernels.analog` and ``docs/nonideal.md``.
"""
from __future__ import annotations

import numpy as np

from dse.config import AnalogEffects, HardwareConfig
from kernels.analog import AnalogPlanes, analog_planes, cell_conductances

# Tags appended to (seed, chip, layer): one independent stream per kind of draw.
VARIATION_STREAM, ADC_STREAM, READ_NOISE_STREAM = 1, 2, 3


def chip_planes(levels: np.ndarray, fault_map: np.ndarray | None, hw: HardwareConfig, effects: AnalogEffects,
                seed: int, chip: int, layer: int) -> AnalogPlanes:
    """One layer of one chip on the float path.

    levels     (in, B) cell levels after stuck-at faults (and any per-chip protection hook)
    fault_map  (in, B) the chip's fault map (0 healthy) or None; stuck cells are not programmed
    """
    key = (int(seed), int(chip), int(layer))
    conductance = cell_conductances(
        levels, None if fault_map is None else fault_map != 0, hw.cell_bits,
        on_off_ratio=effects.on_off_ratio, sigma_per_level=np.array(effects.sigma_per_level(hw.cell_bits)),
        nu_per_level=np.array(effects.nu_per_level(hw.cell_bits)),
        drift_ratio=effects.drift_t_s / effects.drift_t0_s if effects.drifts else 1.0,
        rng=np.random.default_rng(key + (VARIATION_STREAM,)),
    )
    noise_key = np.random.SeedSequence(key + (READ_NOISE_STREAM,)).generate_state(1, np.uint64)[0]
    return analog_planes(
        conductance, rows=hw.rows, cell_bits=hw.cell_bits, dac_bits=hw.dac_bits,
        on_off_ratio=effects.on_off_ratio, read_noise=effects.read_noise, cols=hw.cols,
        cols_per_adc=hw.cols_per_adc, adc_offset=effects.adc_offset,
        adc_gain_error=effects.adc_gain_error, adc_inl=effects.adc_inl,
        rng=np.random.default_rng(key + (ADC_STREAM,)), noise_key=int(noise_key),
    )


def bench_float_point(point, hw: HardwareConfig, repeats: int = 5, seed: int = 0) -> dict:
    """Throughput of the float path next to the integer path and the numpy bit-plane baseline.

    Same data as :func:`dse.bench.bench_kernel_point` (sliced, faulted levels from ``seed``; per-chip
    preparation not timed; timed from integer inputs to outputs). The paths are timed in turns, best of
    ``repeats`` each, so a change of load on a shared machine hits them alike:
    ``integer`` (popcount kernel), ``float_exact`` (float path, every effect zero; checked equal to the
    integer path), ``float_variation`` (5 % programming variation, on/off ratio 10: static effects),
    ``float_noise`` (the same plus 2 % read noise, one normal draw per conversion), ``baseline``.
    """
    import time

    from dse.bench import bit_level_macs
    from kernels import apply_faults, mvm_int, pack_levels, plain_bitlines, sample_faults, slice_levels
    from kernels.adc import full_range_step
    from kernels.analog import mvm_float
    from kernels.baseline import bitplane_matmul_mvm

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1 << hw.input_bits, (point.batch, point.n_in))
    w_max = (1 << (hw.weight_bits - 1)) - 1
    w = rng.integers(-w_max, w_max + 1, (point.n_in, point.n_out))
    levels = slice_levels(w, hw.cell_bits, hw.weight_bits, hw.mapping)
    fault_map = sample_faults(levels.shape, point.sa0_rate, point.sa1_rate, rng)
    bitlines, groups = plain_bitlines(apply_faults(levels, fault_map, hw.cell_bits), hw.cell_bits, hw.mapping)
    stuck = plain_bitlines(fault_map, hw.cell_bits, hw.mapping)[0]
    kw = dict(rows=hw.rows, input_bits=hw.input_bits, dac_bits=hw.dac_bits, cell_bits=hw.cell_bits,
              signed_inputs=False, adc_bits=hw.adc_bits, mapping=hw.mapping, weight_bits=hw.weight_bits,
              step=float(full_range_step(hw.rows, hw.cell_bits, hw.dac_bits, hw.adc_bits)))
    planes = {
        name: chip_planes(bitlines, stuck, hw, effects, seed, 0, 0)
        for name, effects in (("float_exact", AnalogEffects()),
                              ("float_variation", AnalogEffects(variation=0.05, on_off_ratio=10.0)),
                              ("float_noise", AnalogEffects(variation=0.05, read_noise=0.02, on_off_ratio=10.0)))
    }
    wp = pack_levels(bitlines, hw.rows, hw.cell_bits)
    paths = {"integer": lambda: mvm_int(x, wp, groups, point.n_out, **kw)[0]}
    for name, p in planes.items():
        paths[name] = lambda p=p: mvm_float(x, p, groups, point.n_out, **kw)[0]
    paths["baseline"] = lambda: bitplane_matmul_mvm(
        x, bitlines, groups, point.n_out, rows=hw.rows, cell_bits=hw.cell_bits, input_bits=hw.input_bits,
        dac_bits=hw.dac_bits, adc_bits=hw.adc_bits, signed_inputs=False)
    outputs = {name: fn() for name, fn in paths.items()}  # warm-up, and the outputs to compare
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(repeats):
        for name, fn in paths.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    macs = bit_level_macs(point.batch, point.n_in, point.n_out, hw)
    result = {f"{name}_s": s for name, s in best.items()}
    result.update({f"{name}_macs_per_s": macs / s for name, s in best.items()})
    result.update({f"{name}_vs_baseline": best["baseline"] / s for name, s in best.items() if name != "baseline"})
    result["float_exact_agrees"] = bool(np.array_equal(outputs["float_exact"], outputs["integer"]))
    return result
