"""Short row tiles through lookup tables (kernels/tables.py) and the one-pass popcount path: the same bits.

Tables are only planned for large batches of inputs that drive few rows of a tile, which the generic
kernel tests never produce; these tests do, and compare with the numpy reference and with the kernel with
tables switched off (same saturation counts too).
"""
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import kernels.crossbar as crossbar
from kernels import (
    BitlineGroups,
    VOTE_MODES,
    crossbar_mvm,
    crossbar_mvm_reference,
    full_range_step,
    mvm_packed,
    pack_levels,
    sample_faults,
    slice_levels,
)
from kernels.adc import step_shift
from kernels.dac import cycle_weights
from kernels.faults import apply_faults
from kernels.tables import TABLE_CODES, TABLE_NONE, TABLE_OUTPUTS
from kernels.testdata import lossless_adc_bits, packed_layer, random_inputs, random_weights

from crossbar_cases import crossbar_fields

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def no_tables(xp, *args):
    return [(TABLE_NONE, 0, np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int64))] * xp.shape[1]


def plan_of(xp, wp, groups, n_out, *, input_bits, dac_bits, cell_bits, signed_inputs, adc_bits, step):
    """The table plan ``mvm_packed`` makes for these arguments (kind, rows) per row tile."""
    tables = crossbar._short_tile_tables(
        xp, wp, groups, n_out, cycle_weights(input_bits, dac_bits, signed_inputs), dac_bits, cell_bits,
        step_shift(step), float(step), (1 << adc_bits) - 1,
        groups.plain_segments(n_out))
    return tables[0]


@st.composite
def short_tile_cases(draw):
    """Many inputs on layers whose row tiles (or last tile) are a few rows tall."""
    cfg = crossbar_fields(draw, [2, 3, 5, 8, 9, 12, 128])
    lossless = lossless_adc_bits(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"])
    cfg["adc_bits"] = draw(st.integers(1, lossless + 1))
    cfg["adc_range"] = draw(st.sampled_from(["full", "clip"]))
    cfg["weight_flip"] = draw(st.booleans())
    rows = cfg["rows"]
    n_in = draw(st.integers(1, 12)) if rows == 128 else draw(st.integers(1, 3 * rows))
    if rows == 128 and draw(st.booleans()):
        n_in += 128  # a full tile, then a short one
    batch = draw(st.integers(30, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_out = draw(st.integers(1, 9))
    w = random_weights(rng, cfg["weight_bits"], n_in, n_out)
    x = random_inputs(rng, cfg["input_bits"], cfg["signed_inputs"], batch, n_in)
    x[rng.random(x.shape) < 0.3] = 0
    return x, w, cfg, rng


@SETTINGS
@given(short_tile_cases(), st.floats(0, 0.3), st.floats(0, 0.3))
def test_short_tiles_match_the_reference_bit_for_bit(case, p0, p1):
    x, w, cfg, rng = case
    levels = slice_levels(w, cfg["cell_bits"], cfg["weight_bits"], cfg["mapping"])
    faults = sample_faults(levels.shape, p0, p1, rng)
    np.testing.assert_array_equal(crossbar_mvm(x, w, faults=faults, **cfg),
                                  crossbar_mvm_reference(x, w, faults=faults, **cfg))


def packed_case(x, w, cfg, faults=None):
    return packed_layer(x, w, rows=cfg["rows"], cell_bits=cfg["cell_bits"], weight_bits=cfg["weight_bits"],
                        input_bits=cfg["input_bits"], dac_bits=cfg["dac_bits"], mapping=cfg["mapping"], faults=faults)


def kw_of(cfg, step):
    return dict(input_bits=cfg["input_bits"], dac_bits=cfg["dac_bits"], cell_bits=cfg["cell_bits"],
                signed_inputs=cfg["signed_inputs"], adc_bits=cfg["adc_bits"], step=step)


@SETTINGS
@given(short_tile_cases(), st.one_of(st.floats(1.0, 30.0), st.sampled_from([1.0, 2.0, 4.0, 8.0])),
       st.sampled_from([None, "first", "mean", "median", "test-aware"]), st.booleans())
def test_tables_equal_popcounts_for_any_step_and_vote(case, step, vote, flip):
    """Calibrated (non power of two) steps and voted copies read code tables; the result and the
    saturation count are those of the popcount path exactly."""
    x, w, cfg, rng = case
    faults = sample_faults((2 if cfg["mapping"] == "differential" else 1,
                            -(-(cfg["weight_bits"] - (cfg["mapping"] == "differential")) // cfg["cell_bits"]),
                            *w.shape), 0.05, 0.1, rng)
    xp, wp, groups = packed_case(x, w, cfg, faults)
    n_out = w.shape[1]
    if vote is not None:  # three copies of every bit line (the last two re-faulted), voted
        n_bl = wp.shape[3]
        levels = np.concatenate([pack_levels_inverse(wp, x.shape[1], cfg["rows"], cfg["cell_bits"])] * 3, axis=1)
        stuck = sample_faults(levels.shape, 0.1, 0.1, rng)
        stuck[:, :n_bl] = 0
        levels = apply_faults(levels, stuck, cfg["cell_bits"])
        wp = pack_levels(levels, cfg["rows"], cfg["cell_bits"])
        members = np.stack([np.arange(n_bl), np.arange(n_bl) + n_bl, np.arange(n_bl) + 2 * n_bl], axis=1)
        pick = rng.integers(0, 3, (wp.shape[0], n_bl)) if vote == "test-aware" else None
        groups = BitlineGroups(members, groups.out, groups.coef, VOTE_MODES[vote], pick)
    if flip:  # weight flipping: the tables hold the stored lines' codes, corrected per tile as the popcounts are
        groups = replace(groups, flip=rng.random((wp.shape[0], wp.shape[3])) < 0.5)
    kw = kw_of(cfg, step)
    event(f"table kinds {sorted(set(plan_of(xp, wp, groups, n_out, **kw)[:, 0].tolist()))}")
    y, sat = mvm_packed(xp, wp, groups, n_out, **kw)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(crossbar, "plan_tables", no_tables)
        y0, sat0 = mvm_packed(xp, wp, groups, n_out, **kw)
    np.testing.assert_array_equal(y.view(np.uint64), y0.view(np.uint64))
    assert sat == sat0


def pack_levels_inverse(wp, n_in, rows, cell_bits):
    """Levels (in, B) back from packed planes (tiles, cell_bits, words, B)."""
    levels = np.zeros((n_in, wp.shape[3]), dtype=np.uint8)
    for i in range(n_in):
        t, r = divmod(i, rows)
        for c in range(cell_bits):
            levels[i] |= (((wp[t, c, r // 64] >> np.uint64(r % 64)) & np.uint64(1)) << np.uint64(c)).astype(np.uint8)
    return levels


def test_a_three_by_three_single_channel_layer_takes_an_outputs_table(monkeypatch):
    """The cnn-digits conv1 shape: 9 rows, many inputs; the one tile gets an outputs table."""
    rng = np.random.default_rng(3)
    cfg = dict(rows=128, cell_bits=2, weight_bits=8, input_bits=8, dac_bits=1, mapping="differential",
               signed_inputs=False, adc_bits=8)
    x = rng.integers(0, 256, (2000, 9))
    w = rng.integers(-127, 128, (9, 16))
    faults = sample_faults((2, 4, 9, 16), 0.0175, 0.0904, rng)
    xp, wp, groups = packed_case(x, w, cfg, faults)
    kw = kw_of(cfg, float(full_range_step(128, 2, 1, 8)))
    assert plan_of(xp, wp, groups, 16, **kw).tolist() == [[TABLE_OUTPUTS, 9]]
    y, sat = mvm_packed(xp, wp, groups, 16, **kw)
    np.testing.assert_array_equal(y, crossbar_mvm_reference(x, w, faults=faults, **cfg))
    monkeypatch.setattr(crossbar, "plan_tables", no_tables)
    assert mvm_packed(xp, wp, groups, 16, **kw)[1] == sat


def test_long_tile_then_short_tile_and_the_plans_kinds():
    """A full popcount tile and a 9-row table tile in one layer; where exact integer sums could pass
    2**53 (16-bit inputs into a 24-bit ADC) the table holds codes instead of outputs."""
    rng = np.random.default_rng(4)
    for input_bits, adc_bits, kind in ((8, 8, TABLE_OUTPUTS), (16, 24, TABLE_CODES)):
        cfg = dict(rows=128, cell_bits=1, weight_bits=16, input_bits=input_bits, dac_bits=1,
                   mapping="differential", signed_inputs=False, adc_bits=adc_bits)
        x = rng.integers(0, 1 << input_bits, (3000, 137))
        w = rng.integers(-(2**15 - 1), 2**15, (137, 3))
        xp, wp, groups = packed_case(x, w, cfg)
        kw = kw_of(cfg, float(full_range_step(128, 1, 1, adc_bits)))
        assert plan_of(xp, wp, groups, 3, **kw).tolist() == [[TABLE_NONE, 0], [kind, 9]]
        np.testing.assert_array_equal(mvm_packed(xp, wp, groups, 3, **kw)[0], crossbar_mvm_reference(x, w, **cfg))


def test_small_batches_and_tall_tiles_count_bits():
    rng = np.random.default_rng(5)
    cfg = dict(rows=128, cell_bits=2, weight_bits=8, input_bits=8, dac_bits=1, mapping="differential",
               signed_inputs=False, adc_bits=8)
    for batch, n_in in ((10, 9), (5000, 20)):  # too few inputs for 512 patterns; 2**20 patterns
        x = rng.integers(0, 256, (batch, n_in))
        xp, wp, groups = packed_case(x, rng.integers(-127, 128, (n_in, 4)), cfg)
        assert (plan_of(xp, wp, groups, 4, **kw_of(cfg, 2.0))[:, 0] == TABLE_NONE).all()
