"""The random crossbar configurations the kernel tests draw (hypothesis); their weights, inputs and packed
layers come from kernels.testdata, as the benchmark's do."""
from hypothesis import strategies as st

import numpy as np

from kernels import VOTE_MODES, BitlineGroups, mvm_packed, pack_inputs, pack_levels
from kernels.exact import exact_layer
from kernels.flip import flip_mask


def crossbar_fields(draw, rows, weight_bits=(2, 9), cols=None) -> dict:
    """``crossbar_mvm`` keyword arguments: ``rows`` (and ``cols``) from the lists given, 1-4 bit cells,
    ``weight_bits`` in the range given, 1-8 bit inputs, signed (through 1-bit DACs) or unsigned (1-3 bit
    DACs), both mappings."""
    signed = draw(st.booleans())
    cfg = dict(rows=draw(st.sampled_from(rows)))
    if cols is not None:
        cfg["cols"] = draw(st.sampled_from(cols))
    cfg.update(
        cell_bits=draw(st.integers(1, 4)),
        weight_bits=draw(st.integers(*weight_bits)),
        input_bits=draw(st.integers(1, 8)),
        dac_bits=1 if signed else draw(st.integers(1, 3)),
        mapping=draw(st.sampled_from(["differential", "offset"])),
        signed_inputs=signed,
    )
    return cfg


def popcount_step1(x, levels, groups, n_out, faults, hw):
    """The popcount kernel's ``(y, saturated)`` with ADC step 1 on bit lines ``levels`` (in, B) under
    ``faults``; ``hw`` holds rows, cell_bits, input_bits, dac_bits, signed_inputs and adc_bits."""
    wp = pack_levels(levels, hw["rows"], hw["cell_bits"], faults=faults)
    return mvm_packed(pack_inputs(x, hw["rows"], hw["input_bits"], hw["dac_bits"]), wp, groups, n_out,
                      input_bits=hw["input_bits"], dac_bits=hw["dac_bits"], cell_bits=hw["cell_bits"],
                      signed_inputs=hw["signed_inputs"], adc_bits=hw["adc_bits"], step=1.0)


def exact_step1(levels, groups, n_out, faults, hw, **options):
    """The exact path's layer (``kernels.exact.exact_layer``) of the same bit lines, ADC step 1."""
    return exact_layer(levels, groups, n_out, rows=hw["rows"], cell_bits=hw["cell_bits"], dac_bits=hw["dac_bits"],
                       adc_bits=hw["adc_bits"], step=1.0, input_bits=hw["input_bits"],
                       signed_inputs=hw["signed_inputs"], faults=faults, **options)


def step1_fields(draw) -> dict:
    """The crossbar of a step-1 layer test (``hw`` of :func:`popcount_step1`, without ``adc_bits``): rows,
    1-4 bit cells, 1-8 bit inputs, signed through 1-bit DACs or unsigned through 1-3 bit DACs."""
    signed = draw(st.booleans())
    return dict(rows=draw(st.sampled_from([3, 16, 64, 100, 128])), cell_bits=draw(st.integers(1, 4)),
                input_bits=draw(st.integers(1, 8)), signed_inputs=signed,
                dac_bits=1 if signed else draw(st.integers(1, 3)))


def random_groups(draw, rng, levels, n_out: int, rows: int, cell_bits: int) -> BitlineGroups:
    """Random groups over the bit lines ``levels`` (in, B): up to three copies each, every vote, a copy
    picked per row tile (test-aware), signed power-of-two coefficients, flipped bit lines or none."""
    n_in, n_bl = levels.shape
    vote = draw(st.sampled_from(sorted(VOTE_MODES)))
    n_groups, copies = draw(st.integers(1, 12)), draw(st.integers(1, 3))
    members = np.full((n_groups, copies), -1, dtype=np.int64)
    for g in range(n_groups):
        size = int(rng.integers(1, copies + 1))
        members[g, :size] = rng.choice(n_bl, size, replace=False)
    tiles = -(-n_in // rows)
    sizes = (members >= 0).sum(axis=1)
    pick = rng.integers(0, sizes[None, :].repeat(tiles, axis=0))
    coef = rng.choice([-1, 1], n_groups) * (2.0 ** (cell_bits * rng.integers(0, 4, n_groups)))
    flip = flip_mask(levels, rows, cell_bits) if draw(st.booleans()) else None
    return BitlineGroups(members, rng.integers(0, n_out, n_groups), coef, VOTE_MODES[vote],
                         pick if vote == "test-aware" else None, flip)
