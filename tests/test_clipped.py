"""The exact path with clippable bit lines (kernels/clipped.py): a step-1 ADC that can clip some (tile, bit
line) pairs and not others gives, through exact products plus each clipped pair's excess, the popcount
path's outputs and saturation count bit for bit, and the reference's outputs."""
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels import (
    BitlineGroups, VOTE_MODES, crossbar_mvm_reference, full_scale, mvm_packed, pack_inputs, pack_levels,
    plain_bitlines, sample_faults, slice_levels,
)
from kernels.clipped import clippable
from kernels.exact import exact_layer, mvm_exact
from kernels.faults import apply_faults
from kernels.flip import flip_mask, flipped_levels
from crossbar_cases import exact_step1, popcount_step1, random_groups, step1_fields
from kernels.testdata import random_inputs
from test_kernels import SETTINGS


_popcount = popcount_step1


def _exact(stored, groups, n_out, faults, hw, max_clipped=1.0):
    return exact_step1(stored, groups, n_out, faults, hw, max_clipped=max_clipped)


def _same_bits(a, b):
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint64), b.view(np.uint64))


def _mixed_levels(rng, n_in, n_bl, top):
    """Levels whose bit lines range from nearly empty to nearly full, so that a step-1 ADC of a few bits
    clips some (tile, bit line) pairs and not others."""
    density = rng.uniform(0.0, 1.0, n_bl)
    return (rng.integers(0, top + 1, (n_in, n_bl)) * (rng.random((n_in, n_bl)) < density)).astype(np.uint8)


def _faulty_plain_layer(rng, rows, cell_bits, weight_bits, input_bits, mapping, signed, weight_flip, spread):
    """A random plain layer (weights of per-column spread up to ``spread``), its inputs, and its bit lines as
    crossbar_mvm prepares them: Chen-rate faults on the stored cells, flipped where ``weight_flip``."""
    n_in, n_out, batch = int(rng.integers(1, 300)), int(rng.integers(1, 9)), int(rng.integers(1, 5))
    w = np.clip(np.round(rng.normal(0, rng.uniform(2, spread, n_out), (n_in, n_out))), -127, 127).astype(np.int64)
    x = random_inputs(rng, input_bits, signed, batch, n_in)
    lv = slice_levels(w, cell_bits, weight_bits, mapping)
    faults = sample_faults(lv.shape, 0.0175, 0.0904, rng)
    bitlines, groups = plain_bitlines(lv, cell_bits, mapping)
    fault_bl = faults.transpose(2, 0, 1, 3).reshape(bitlines.shape)
    if weight_flip:
        mask = flip_mask(bitlines, rows, cell_bits)
        groups = replace(groups, flip=mask)
        bitlines = flipped_levels(bitlines, mask, rows, cell_bits)
    return w, x, faults, bitlines, groups, fault_bl, n_in, n_out


@st.composite
def clipping_layers(draw):
    """Random bit lines and groups (copies up to three, every vote, picks per tile, flips, faults, signed or
    unsigned inputs, multi-bit DACs) under a step-1 ADC narrower than the full scale: some pairs clip."""
    hw = step1_fields(draw)
    signed = hw["signed_inputs"]
    needed = math.ceil(math.log2(full_scale(hw["rows"], hw["cell_bits"], hw["dac_bits"]) + 1))
    hw["adc_bits"] = draw(st.integers(max(1, needed - 4), max(1, needed - 1)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in, n_out, n_bl = draw(st.integers(1, 300)), draw(st.integers(1, 6)), draw(st.integers(3, 24))
    levels = _mixed_levels(rng, n_in, n_bl, (1 << hw["cell_bits"]) - 1)
    groups = random_groups(draw, rng, levels, n_out, hw["rows"], hw["cell_bits"])
    stored = flipped_levels(levels, groups.flip, hw["rows"], hw["cell_bits"])
    faults = sample_faults(levels.shape, draw(st.floats(0, 0.2)), draw(st.floats(0, 0.2)), rng)
    x = random_inputs(rng, hw["input_bits"], signed, draw(st.integers(1, 6)), n_in)
    return x, stored, groups, n_out, faults, hw


@SETTINGS
@given(clipping_layers())
def test_clipped_pairs_give_the_popcount_paths_bits_and_saturation(case):
    x, stored, groups, n_out, faults, hw = case
    layer = _exact(stored, groups, n_out, faults, hw)
    assert layer is not None  # every bound holds at these sizes
    mask = clippable(apply_faults(stored, faults, hw["cell_bits"]), hw["rows"], hw["dac_bits"], hw["adc_bits"])
    assert (layer.clipped.count if layer.clipped is not None else 0) == mask.sum()
    y, saturated = _popcount(x, stored, groups, n_out, faults, hw)
    y_exact, saturated_exact = mvm_exact(x, layer)
    _same_bits(y_exact, y)
    assert saturated_exact == saturated


def test_a_layer_with_both_kinds_of_pairs_saturates_and_still_agrees():
    # A deterministic mix, so the property above is known to meet clipped and unclipped pairs together:
    # 128 rows of 2-bit cells at 7 bits (top 127), half the bit lines sparse, half dense; mean of two.
    rng = np.random.default_rng(3)
    levels = np.concatenate([rng.integers(0, 2, (256, 8)), rng.integers(1, 4, (256, 8))], axis=1).astype(np.uint8)
    members = np.arange(16).reshape(8, 2)
    groups = BitlineGroups(members, np.arange(8) % 3, np.array([1.0, -4.0] * 4), VOTE_MODES["mean"])
    hw = dict(rows=128, cell_bits=2, input_bits=8, signed_inputs=False, dac_bits=1, adc_bits=7)
    x = random_inputs(rng, 8, False, 50, 256)
    layer = _exact(levels, groups, 3, None, hw)
    assert layer.clipped.count == 16 and layer.path == "exact-float32+clipped"  # the 8 dense lines in 2 tiles
    y, saturated = _popcount(x, levels, groups, 3, None, hw)
    y_exact, saturated_exact = mvm_exact(x, layer)
    assert saturated > 0 and saturated_exact == saturated
    _same_bits(y_exact, y)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from(["differential", "offset"]), st.booleans(), st.booleans(),
       st.integers(5, 8))
def test_clipped_exact_path_is_the_reference_with_clip_range(seed, mapping, signed, weight_flip, adc_bits):
    # The plain layout through crossbar_mvm's own preparation (faults on the stored, possibly flipped,
    # cells), against the plain numpy reference at adc_range="clip".
    rng = np.random.default_rng(seed)
    rows, cell_bits, weight_bits, input_bits = 128, 2, 8, 8
    w, x, faults, bitlines, groups, fault_bl, n_in, n_out = _faulty_plain_layer(
        rng, rows, cell_bits, weight_bits, input_bits, mapping, signed, weight_flip, spread=60)
    hw = dict(rows=rows, cell_bits=cell_bits, input_bits=input_bits, signed_inputs=signed, dac_bits=1,
              adc_bits=adc_bits)
    layer = _exact(bitlines, groups, n_out, fault_bl, hw)
    y, saturated = mvm_exact(x, layer)
    y_pop, saturated_pop = _popcount(x, bitlines, groups, n_out, fault_bl, hw)
    _same_bits(y, y_pop)
    assert saturated == saturated_pop
    if mapping == "offset":
        y -= float(1 << (weight_bits - 1)) * x.sum(axis=1, keepdims=True)
    expected = crossbar_mvm_reference(x, w, rows=rows, cell_bits=cell_bits, weight_bits=weight_bits,
                                      input_bits=input_bits, adc_bits=adc_bits, mapping=mapping,
                                      signed_inputs=signed, adc_range="clip", faults=faults,
                                      weight_flip=weight_flip)
    np.testing.assert_array_equal(y, expected)


def test_share_of_clippable_pairs_decides_the_path():
    rng = np.random.default_rng(4)
    hw = dict(rows=128, cell_bits=2, input_bits=8, signed_inputs=False, dac_bits=1, adc_bits=7)
    _, groups = plain_bitlines(np.zeros((1, 1, 256, 8), dtype=np.uint8), 2, "differential")
    sparse = rng.integers(0, 2, (256, 8)).astype(np.uint8)
    sparse[[0, 128]] = 0  # at most 127 per tile: nothing can clip
    assert _exact(sparse, groups, 8, None, hw, max_clipped=0.0).clipped is None
    dense = sparse.copy()
    dense[:, :3] = 3  # 3 of 8 bit lines clip in both tiles: 37.5 % of the pairs
    assert _exact(dense, groups, 8, None, hw, max_clipped=0.0) is None
    assert _exact(dense, groups, 8, None, hw, max_clipped=0.3) is None
    assert _exact(dense, groups, 8, None, hw, max_clipped=0.4).clipped.count == 6
    step4 = exact_layer(sparse, groups, 8, rows=128, cell_bits=2, dac_bits=1, adc_bits=7, step=4.0, input_bits=8,
                        signed_inputs=False)
    assert step4 is None  # rounding beyond the lowest bit: never exact


PROTECTIONS = {
    "none": dict(),
    "mean of three, MSB embedding, compensation, pruning": dict(
        row_prune=0.3, col_prune=0.3, dup_copies=3, dup_slices=2, msb_embed=1, vote="mean", compensate=True),
    "median of three": dict(row_prune=0.3, col_prune=0.3, dup_copies=3, dup_slices=2, msb_embed=1, vote="median"),
    "spare columns, test-aware pick": dict(spare_cols=1, vote="test-aware"),
    "mean of two": dict(dup_copies=2, vote="mean", compensate=True),
}


@pytest.mark.parametrize("name", sorted(PROTECTIONS))
@pytest.mark.parametrize("mapping, signed, weight_flip", [("differential", False, False), ("offset", True, True)])
def test_simulator_takes_clipped_exact_layers_with_the_same_bits_and_saturation(monkeypatch, name, mapping, signed,
                                                                               weight_flip):
    from dse.config import FaultScenario, HardwareConfig, Protection
    from dse.mapping import map_network
    from dse.simulate import chip_layers, network, run_network
    from test_simulate import tiny_workload

    monkeypatch.setattr(network, "MAX_CLIPPED", 1.0)  # every layer takes the exact path, however many clip
    workload = tiny_workload(signed=signed)
    hw = HardwareConfig(adc_bits=6, adc_range="clip", mapping=mapping, weight_flip=weight_flip)
    net = map_network(workload, hw, Protection(**PROTECTIONS[name]))
    faults = FaultScenario(0.03, 0.1, n_chips=1)
    clipped = 0
    for chip in (None, 0):
        scenario = faults if chip is not None else None
        fast = chip_layers(net, scenario, chip)
        assert all(layer.exact is not None for layer in fast.values())
        clipped += sum(layer.exact.clipped is not None for layer in fast.values())
        stats_fast, stats_slow = {}, {}
        y_fast = run_network(net, fast, workload.x_test, stats_fast)
        y_slow = run_network(net, chip_layers(net, scenario, chip, exact=False), workload.x_test, stats_slow)
        np.testing.assert_array_equal(y_fast.view(np.uint64), y_slow.view(np.uint64))
        for index in stats_slow:
            assert stats_fast[index].saturated == stats_slow[index].saturated
            assert stats_fast[index].error_sum == stats_slow[index].error_sum
    assert clipped > 0


# --- step 2: rounding only (the full range one bit short of lossless) ---------------------------------

@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from(["differential", "offset"]), st.booleans(), st.booleans(),
       st.sampled_from([(128, 2, 1), (64, 2, 2), (100, 1, 3), (37, 3, 1), (200, 4, 1), (85, 2, 1)]))
def test_step_two_rounding_is_the_popcount_path_and_the_reference(seed, mapping, signed, weight_flip, shape):
    # Every pair rounds: 2 * floor((v + 1) / 2) = v + (v mod 2), the parity of the lowest DAC and cell bits.
    # (85 rows of 2-bit cells: full scale 255, step 2 at 7 bits, and a full bit line would clip: refused.)
    rows, cell_bits, dac_bits = shape
    if signed:
        dac_bits = 1
    rng = np.random.default_rng(seed)
    weight_bits, input_bits = 8, 8
    w, x, faults, bitlines, groups, fault_bl, n_in, n_out = _faulty_plain_layer(
        rng, rows, cell_bits, weight_bits, input_bits, mapping, signed, weight_flip, spread=127)
    adc_bits = math.ceil(math.log2(full_scale(rows, cell_bits, dac_bits, weight_flip) + 1)) - 1
    hw = dict(rows=rows, cell_bits=cell_bits, input_bits=input_bits, signed_inputs=signed, dac_bits=dac_bits,
              adc_bits=adc_bits)
    layer = exact_layer(bitlines, groups, n_out, rows=rows, cell_bits=cell_bits, dac_bits=dac_bits,
                        adc_bits=adc_bits, step=2.0, input_bits=input_bits, signed_inputs=signed, faults=fault_bl)
    stored = apply_faults(bitlines, fault_bl, cell_bits)
    can_clip = any(((int(stored[t:t + rows].sum(axis=0).max(initial=0)) * ((1 << dac_bits) - 1) + 1) >> 1)
                   > (1 << adc_bits) - 1 for t in range(0, n_in, rows))
    assert (layer is None) == can_clip
    if layer is None:
        return
    assert layer.path.endswith("+rounding")
    y, saturated = mvm_exact(x, layer)
    wp = pack_levels(bitlines, rows, cell_bits, faults=fault_bl)
    y_pop, saturated_pop = mvm_packed(pack_inputs(x, rows, input_bits, dac_bits), wp, groups, n_out,
                                      input_bits=input_bits, dac_bits=dac_bits, cell_bits=cell_bits,
                                      signed_inputs=signed, adc_bits=adc_bits, step=2.0)
    _same_bits(y, y_pop)
    assert saturated == saturated_pop == 0
    if mapping == "offset":
        y -= float(1 << (weight_bits - 1)) * x.sum(axis=1, keepdims=True)
    expected = crossbar_mvm_reference(x, w, rows=rows, cell_bits=cell_bits, weight_bits=weight_bits,
                                      input_bits=input_bits, dac_bits=dac_bits, adc_bits=adc_bits, mapping=mapping,
                                      signed_inputs=signed, adc_range="full", faults=faults, weight_flip=weight_flip)
    np.testing.assert_array_equal(y, expected)


def test_step_two_takes_only_plain_layers_and_never_other_steps():
    rng = np.random.default_rng(9)
    w = rng.integers(-127, 128, (300, 5))
    bitlines, groups = plain_bitlines(slice_levels(w, 2, 8, "differential"), 2, "differential")
    kw = dict(rows=128, cell_bits=2, dac_bits=1, adc_bits=8, input_bits=8, signed_inputs=False)
    assert exact_layer(bitlines, groups, 5, step=2.0, **kw).path == "exact-float32+rounding"
    assert exact_layer(bitlines, groups, 5, step=2.0, rounding=False, **kw) is None
    assert exact_layer(bitlines, groups, 5, step=4.0, **kw) is None
    copies = BitlineGroups(np.stack([groups.members[:, 0], groups.members[::-1, 0]], axis=1), groups.out,
                           groups.coef, VOTE_MODES["mean"])
    assert exact_layer(bitlines, copies, 5, step=2.0, **kw) is None  # through groups: the popcount path
