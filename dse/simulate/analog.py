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

# Tags appended to (seed, chip, layer): one independent stream per kind of draw (dse.simulate.chips: 5, 6).
VARIATION_STREAM, ADC_STREAM, READ_NOISE_STREAM, STUCK_SPREAD_STREAM = 1, 2, 3, 4


def chip_planes(levels: np.ndarray, fault_map: np.ndarray | None, hw: HardwareConfig, effects: AnalogEffects,
                seed: int, chip: int, layer: int, stuck_level_spread: float = 0.0) -> AnalogPlanes:
    """One layer of one chip on the float path.

    levels     (in, B) cell levels after stuck-at faults (and any per-chip protection hook)
    fault_map  (in, B) the chip's fault map (0 healthy) or None: every stuck cell, whether the test found
               it or not; stuck cells are not programmed. Every other cell, reprogrammed by a
               protection or not, gets the programming variation
    stuck_level_spread  ``FaultScenario.stuck_level_spread``
    """
    key = (int(seed), int(chip), int(layer))
    conductance = cell_conductances(
        levels, None if fault_map is None else fault_map != 0, hw.cell_bits,
        on_off_ratio=effects.on_off_ratio, sigma_per_level=np.array(effects.sigma_per_level(hw.cell_bits)),
        nu_per_level=np.array(effects.nu_per_level(hw.cell_bits)),
        drift_ratio=effects.drift_t_s / effects.drift_t0_s if effects.drifts else 1.0,
        rng=np.random.default_rng(key + (VARIATION_STREAM,)),
        stuck_spread=stuck_level_spread, stuck_rng=np.random.default_rng(key + (STUCK_SPREAD_STREAM,)),
    )
    noise_key = np.random.SeedSequence(key + (READ_NOISE_STREAM,)).generate_state(1, np.uint64)[0]
    return analog_planes(
        conductance, rows=hw.rows, cell_bits=hw.cell_bits, dac_bits=hw.dac_bits,
        on_off_ratio=effects.on_off_ratio, read_noise=effects.read_noise, cols=hw.cols,
        cols_per_adc=hw.cols_per_adc, adc_offset=effects.adc_offset,
        adc_gain_error=effects.adc_gain_error, adc_inl=effects.adc_inl,
        rng=np.random.default_rng(key + (ADC_STREAM,)), noise_key=int(noise_key),
    )
