"""The exact lossless path (kernels/exact.py) equals the popcount path bit for bit, and only runs where it can."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels import (
    BitlineGroups, VOTE_MODES, apply_faults, crossbar_mvm_reference, full_range_step, full_scale, pack_inputs,
    plain_bitlines, sample_faults, slice_levels,
)
from kernels import exact
from kernels.exact import exact_layer, layer_ints, mvm_exact
from kernels.flip import flip_mask
from kernels.layer_io import pack_layer_inputs
from crossbar_cases import exact_step1, popcount_step1, random_groups, step1_fields
from kernels.testdata import random_inputs
from test_kernels import SETTINGS


_popcount = popcount_step1
_exact = exact_step1


def _same_bits(a, b):
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint64), b.view(np.uint64))


@st.composite
def protected_layers(draw):
    """Random bit lines and random groups over them: copies (up to three, the way duplication and MSB
    embedding add them), every vote, picks per row tile, arbitrary levels (compensation programs any),
    flipped bit lines, faults; a lossless ADC (full-range step 1)."""
    hw = step1_fields(draw)
    signed = hw["signed_inputs"]
    hw["adc_bits"] = max(1, math.ceil(math.log2(full_scale(hw["rows"], hw["cell_bits"], hw["dac_bits"]) + 1)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in, n_out, n_bl = draw(st.integers(1, 300)), draw(st.integers(1, 6)), draw(st.integers(3, 24))
    top = (1 << hw["cell_bits"]) - 1
    levels = rng.integers(0, top + 1, (n_in, n_bl)).astype(np.uint8)
    groups = random_groups(draw, rng, levels, n_out, hw["rows"], hw["cell_bits"])
    faults = sample_faults(levels.shape, draw(st.floats(0, 0.3)), draw(st.floats(0, 0.3)), rng)
    x = random_inputs(rng, hw["input_bits"], signed, draw(st.integers(1, 6)), n_in)
    return x, levels, groups, n_out, faults, hw


@SETTINGS
@given(protected_layers())
def test_exact_path_equals_popcount_path_bit_for_bit(case):
    x, levels, groups, n_out, faults, hw = case
    layer = _exact(levels, groups, n_out, faults, hw)
    assert layer is not None  # lossless, small: always exact
    y, saturated = _popcount(x, levels, groups, n_out, faults, hw)
    assert saturated == 0
    _same_bits(mvm_exact(x, layer)[0], y)
    sizes = groups.sizes
    odd_mean = np.any((sizes == 3) & (groups.vote == VOTE_MODES["mean"]))
    assert layer.replay == bool(odd_mean)  # only a mean over three copies needs the kernel's order


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from(["differential", "offset"]), st.booleans(), st.booleans(),
       st.integers(1, 4))
def test_exact_path_on_plain_layers_is_the_reference(seed, mapping, signed, flip, cell_bits):
    # The plain layout (one coefficient per (array, slice) segment), both mappings with the offset
    # correction applied after, signed inputs, faults: the lossless reference and x @ w without faults.
    rng = np.random.default_rng(seed)
    rows, weight_bits, input_bits = 64, 8, 8
    n_in, n_out, batch = int(rng.integers(1, 200)), int(rng.integers(1, 9)), int(rng.integers(1, 5))
    w = rng.integers(-127, 128, (n_in, n_out))
    x = random_inputs(rng, input_bits, signed, batch, n_in)
    lv = slice_levels(w, cell_bits, weight_bits, mapping)
    faults = sample_faults(lv.shape, 0.02, 0.09, rng)
    bitlines, groups = plain_bitlines(apply_faults(lv, faults, cell_bits), cell_bits, mapping)
    adc_bits = math.ceil(math.log2(full_scale(rows, cell_bits, 1) + 1))
    hw = dict(rows=rows, cell_bits=cell_bits, input_bits=input_bits, signed_inputs=signed, dac_bits=1,
              adc_bits=adc_bits)
    if flip:
        from dataclasses import replace
        from kernels.flip import flipped_levels
        mask = flip_mask(bitlines, rows, cell_bits)
        groups = replace(groups, flip=mask)
        bitlines = flipped_levels(bitlines, mask, rows, cell_bits)
    layer = _exact(bitlines, groups, n_out, None, hw)
    y = mvm_exact(x, layer)[0]
    _same_bits(y, _popcount(x, bitlines, groups, n_out, None, hw)[0])
    if mapping == "offset":
        y -= float(1 << (weight_bits - 1)) * x.sum(axis=1, keepdims=True)
    if not flip:
        expected = crossbar_mvm_reference(x, w, rows=rows, cell_bits=cell_bits, weight_bits=weight_bits,
                                          input_bits=input_bits, adc_bits=adc_bits, mapping=mapping,
                                          signed_inputs=signed, faults=faults)
        np.testing.assert_array_equal(y, expected)


def _plain_case(seed=0, n_in=300, n_out=5, cell_bits=2):
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (n_in, n_out))
    bitlines, groups = plain_bitlines(slice_levels(w, cell_bits, 8, "differential"), cell_bits, "differential")
    return rng, w, bitlines, groups


@pytest.mark.parametrize("adc_bits, path", [(9, "exact-float32"), (10, "exact-float32"),
                                            (8, "exact-float32+rounding"), (7, None), (4, None)])
def test_exact_path_is_chosen_only_when_the_adc_is_lossless(adc_bits, path):
    # 128 rows of 2-bit cells, 1-bit DAC: full scale 384 needs 9 bits; an 8-bit full-range ADC has step 2,
    # which only rounds (kernels.clipped: the parity of the lowest bits), a 7-bit one step 4.
    _, w, bitlines, groups = _plain_case()
    step = float(full_range_step(128, 2, 1, adc_bits))
    layer = exact_layer(bitlines, groups, 5, rows=128, cell_bits=2, dac_bits=1, adc_bits=adc_bits, step=step,
                        input_bits=8, signed_inputs=False)
    assert (layer.path if layer is not None else None) == path


def test_clip_and_calibrated_step_one_are_exact_only_when_no_sum_reaches_the_top_code():
    # Step 1 with 8 bits on 128 rows of 2-bit cells: lossless only while no bit line of a tile sums past 255.
    rng, w, bitlines, groups = _plain_case()
    kw = dict(rows=128, cell_bits=2, dac_bits=1, adc_bits=8, step=1.0, input_bits=8, signed_inputs=False)
    low = np.minimum(bitlines, 1)  # at most 128 per bit line: cannot clip
    assert exact_layer(low, groups, 5, **kw) is not None
    high = np.full_like(bitlines, 3)  # 384 per bit line: an all-ones input clips
    assert exact_layer(high, groups, 5, **kw) is None
    faults = np.full(bitlines.shape, 2, dtype=np.uint8)  # every cell stuck ON reads 3: clips on this chip
    assert exact_layer(low, groups, 5, faults=faults, **kw) is None


def test_exact_path_refuses_when_a_sum_could_pass_2_to_the_53(monkeypatch):
    # With the float64 limit lowered just below this layer's bound the layer is refused (the caller keeps
    # the popcount path) rather than computed with rounded sums; at the limit's real value it is exact.
    rng, w, bitlines, groups = _plain_case(n_in=256)
    kw = dict(rows=128, cell_bits=2, dac_bits=1, adc_bits=9, step=1.0, input_bits=8, signed_inputs=False)
    layer = exact_layer(bitlines, groups, 5, **kw)
    bound = 255 * np.abs(layer.weights.astype(np.float64)).sum(axis=0).max()
    assert layer is not None
    monkeypatch.setattr(exact, "EXACT_F64", int(bound))
    assert exact_layer(bitlines, groups, 5, **kw) is None
    monkeypatch.setattr(exact, "EXACT_F64", int(bound) + 1)
    assert exact_layer(bitlines, groups, 5, **kw) is not None


def test_16_bit_inputs_and_weights_take_float64_and_stay_exact():
    # |x| up to 65535 times weights up to 2**15: float32 cannot hold a single product, float64 holds the sums.
    rng = np.random.default_rng(5)
    n_in, n_out = 300, 3
    w = rng.integers(-(2**15 - 1), 2**15, (n_in, n_out))
    x = rng.integers(0, 1 << 16, (2, n_in))
    bitlines, groups = plain_bitlines(slice_levels(w, 4, 16, "differential"), 4, "differential")
    adc_bits = math.ceil(math.log2(full_scale(128, 4, 1) + 1))
    layer = exact_layer(bitlines, groups, n_out, rows=128, cell_bits=4, dac_bits=1, adc_bits=adc_bits, step=1.0,
                        input_bits=16, signed_inputs=False)
    assert layer.weights.dtype == np.float64
    np.testing.assert_array_equal(mvm_exact(x, layer)[0], x @ w)
    with pytest.raises(ValueError, match="exactness bound"):
        mvm_exact(x + 65536, layer)


def test_float32_products_are_chunked_where_one_product_could_round():
    # 8-bit weights on 2048 rows: one float32 product could reach 2048 * 255 * 127 > 2**24, so the rows
    # are split into chunks whose sums stay below it, added in float64.
    rng = np.random.default_rng(6)
    n_in = 2048
    w = np.full((n_in, 2), 127)
    x = np.full((1, n_in), 255)
    bitlines, groups = plain_bitlines(slice_levels(w, 2, 8, "differential"), 2, "differential")
    layer = exact_layer(bitlines, groups, 2, rows=128, cell_bits=2, dac_bits=1, adc_bits=9, step=1.0,
                        input_bits=8, signed_inputs=False)
    assert layer.weights.dtype == np.float32 and len(layer.chunks) > 2
    assert all(255 * 127 * (b - a) < 2**24 for a, b in zip(layer.chunks[:-1], layer.chunks[1:]))
    np.testing.assert_array_equal(mvm_exact(x, layer)[0], x @ w)
    assert (x @ w).max() > 2**24  # a single float32 product would have rounded


def test_integer_matmul_is_the_float64_product_and_refuses_past_2_to_the_53(monkeypatch):
    # The simulator's ideal layer: float32 row chunks on threads, the same floats as x @ w in float64.
    rng = np.random.default_rng(8)
    w = rng.integers(-127, 128, (1536, 7))
    x = rng.integers(-128, 128, (300, 1536)).astype(np.float32)
    y = exact.integer_matmul(x, w, 128)
    np.testing.assert_array_equal(y, x.astype(np.float64) @ w.astype(np.float64))
    monkeypatch.setattr(exact, "EXACT_F64", 128 * int(np.abs(w).sum(axis=0).max()))
    assert exact.integer_matmul(x, w, 128) is None


@pytest.mark.parametrize("signed", [False, True])
def test_layer_ints_are_the_packed_inputs(signed):
    rng = np.random.default_rng(7)
    src = rng.normal(size=(5, 40))
    src[0, 3] = np.nan
    index = np.stack([rng.integers(-1, 40, 30) for _ in range(3)])
    kw = dict(scale=0.02, input_bits=8, signed=signed)
    x = layer_ints(src, index, **kw)
    xp, _, _ = pack_layer_inputs(src, index, rows=64, dac_bits=1, **kw)
    np.testing.assert_array_equal(pack_inputs(x.astype(np.int64), 64, 8, 1), xp)


# --- the simulator chooses it ------------------------------------------------------------------------



PROTECTIONS = {
    "none": dict(),
    "zero-space (mean of three, MSB embedding, compensation, magnitude pruning)": dict(
        row_prune=0.3, col_prune=0.3, dup_copies=3, dup_slices=2, msb_embed=1, vote="mean", compensate=True),
    "median of three (zero-space-paper's vote)": dict(row_prune=0.3, col_prune=0.3, dup_copies=3, dup_slices=2,
                                                      msb_embed=1, vote="median"),
    "spare columns, test-aware pick": dict(spare_cols=1, vote="test-aware"),
    "remap": dict(remap=True),
    "mean of two": dict(dup_copies=2, vote="mean", compensate=True),
}


@pytest.mark.parametrize("name", sorted(PROTECTIONS))
@pytest.mark.parametrize("mapping, signed", [("differential", False), ("offset", True)])
def test_simulator_takes_the_exact_path_when_lossless_with_the_same_bits(name, mapping, signed):
    from dse.config import FaultScenario, HardwareConfig, Protection
    from dse.mapping import map_network
    from dse.simulate import chip_layers, run_network
    from test_simulate import tiny_workload

    workload = tiny_workload(signed=signed)
    hw = HardwareConfig(adc_bits=9, mapping=mapping)  # 128 rows x 3 levels: full scale 384, step 1
    net = map_network(workload, hw, Protection(**PROTECTIONS[name]))
    faults = FaultScenario(0.03, 0.1, n_chips=2)
    for chip in (None, 0, 1):
        scenario = faults if chip is not None else None
        fast = chip_layers(net, scenario, chip)
        assert all(layer.exact is not None and layer.wp is None for layer in fast.values())
        popcount = chip_layers(net, scenario, chip, exact=False)
        assert all(layer.exact is None for layer in popcount.values())
        stats_fast, stats_slow = {}, {}
        y_fast = run_network(net, fast, workload.x_test, stats_fast)
        y_slow = run_network(net, popcount, workload.x_test, stats_slow)
        np.testing.assert_array_equal(y_fast.view(np.uint64), y_slow.view(np.uint64))
        for index in stats_slow:
            assert stats_fast[index].saturated == stats_slow[index].saturated == 0
            assert stats_fast[index].error_sum == stats_slow[index].error_sum


def test_simulator_keeps_the_popcount_path_when_the_adc_can_lose_information():
    from dse.config import FaultScenario, HardwareConfig
    from dse.mapping import map_network
    from dse.simulate import chip_layers
    from test_simulate import tiny_workload

    net = map_network(tiny_workload(), HardwareConfig(adc_bits=7))  # step 4
    layers = chip_layers(net, FaultScenario(0.03, 0.1), 0)
    assert all(layer.exact is None and layer.wp is not None for layer in layers.values())


@pytest.mark.parametrize("vote", ["mean", "median", "test-aware"])
def test_exact_path_split_over_threads_is_the_same(vote):
    # 300 inputs: blocks of rows on two threads (each its own BLAS product), replay / median / linear parts.
    rng = np.random.default_rng(11)
    hw = dict(rows=64, cell_bits=2, input_bits=8, signed_inputs=True, dac_bits=1, adc_bits=8)
    n_in, n_out, n_bl = 200, 4, 18
    levels = rng.integers(0, 4, (n_in, n_bl)).astype(np.uint8)
    members = np.stack([rng.choice(n_bl, 3, replace=False) for _ in range(8)])
    groups = BitlineGroups(members, rng.integers(0, n_out, 8), rng.choice([-4.0, 1.0, 16.0], 8), VOTE_MODES[vote],
                           rng.integers(0, 3, (4, 8)) if vote == "test-aware" else None)
    x = random_inputs(rng, 8, True, 300, n_in)
    layer = _exact(levels, groups, n_out, None, hw)
    _same_bits(mvm_exact(x, layer)[0], _popcount(x, levels, groups, n_out, None, hw)[0])
