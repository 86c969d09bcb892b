"""The crossbar contract (docs/crossbar.md): exactness, fast == reference, fault extremes."""
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels import (
    BitlineGroups,
    VOTE_MODES,
    apply_faults,
    column_sum_histogram,
    crossbar_mvm,
    crossbar_mvm_reference,
    full_range_step,
    full_scale,
    mvm_packed,
    n_arrays,
    n_slices,
    pack_inputs,
    pack_levels,
    plain_bitlines,
    sample_faults,
    slice_levels,
)
from kernels.baseline import bitplane_matmul_mvm
from kernels.testdata import lossless_adc_bits, random_inputs, random_weights

from crossbar_cases import crossbar_fields

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def configs(draw, lossless=False):
    """A random crossbar configuration with matching random integer inputs and weights."""
    cfg = crossbar_fields(draw, [1, 3, 16, 64, 65, 100, 128], weight_bits=(2, 10), cols=[1, 8, 128])
    lossless_bits = lossless_adc_bits(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"])
    cfg["adc_bits"] = lossless_bits if lossless else draw(st.integers(1, lossless_bits + 1))
    n_in = draw(st.integers(1, 300))
    n_out = draw(st.integers(1, 12))
    batch = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = random_weights(rng, cfg["weight_bits"], n_in, n_out)
    x = random_inputs(rng, cfg["input_bits"], cfg["signed_inputs"], batch, n_in)
    return x, w, cfg, rng


@SETTINGS
@given(configs(lossless=True))
def test_lossless_adc_without_faults_is_exact_matmul(case):
    x, w, cfg, _ = case
    assert full_range_step(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"], cfg["adc_bits"]) == 1
    expected = x @ w
    np.testing.assert_array_equal(crossbar_mvm(x, w, **cfg), expected)
    np.testing.assert_array_equal(crossbar_mvm_reference(x, w, **cfg), expected)


@SETTINGS
@given(configs(), st.floats(0, 0.3), st.floats(0, 0.3), st.sampled_from(["iid", "column"]))
def test_kernel_matches_reference_bit_for_bit(case, p0, p1, model):
    x, w, cfg, rng = case
    shape = (n_arrays(cfg["mapping"]), n_slices(cfg["weight_bits"], cfg["cell_bits"], cfg["mapping"])) + w.shape
    faults = sample_faults(shape, p0, p1, rng, model=model, rows=cfg["rows"])
    fast = crossbar_mvm(x, w, faults=faults, **cfg)
    slow = crossbar_mvm_reference(x, w, faults=faults, **cfg)
    # Full range: every term is an integer below 2**53, so any summation order gives the same float.
    np.testing.assert_array_equal(fast, slow)


@SETTINGS
@given(configs(), st.floats(1.0, 40.0))
def test_calibrated_range_matches_reference(case, step):
    x, w, cfg, rng = case
    shape = (n_arrays(cfg["mapping"]), n_slices(cfg["weight_bits"], cfg["cell_bits"], cfg["mapping"])) + w.shape
    faults = sample_faults(shape, 0.05, 0.1, rng)
    kw = dict(cfg, adc_range="calibrated", adc_step=step, faults=faults)
    fast, slow = crossbar_mvm(x, w, **kw), crossbar_mvm_reference(x, w, **kw)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-6 * max(1.0, np.abs(slow).max()))


def test_adc_saturation_is_exercised_and_matches():
    rng = np.random.default_rng(1)
    x = rng.integers(200, 256, (4, 128))
    w = rng.integers(100, 128, (128, 5))
    kw = dict(rows=128, cell_bits=2, adc_bits=4, adc_range="calibrated", adc_step=1.0)
    fast, slow = crossbar_mvm(x, w, **kw), crossbar_mvm_reference(x, w, **kw)
    np.testing.assert_array_equal(fast, slow)
    assert np.all(fast < x @ w)  # codes clip at 15 while the true column sums reach hundreds
    bl, groups = plain_bitlines(slice_levels(w, 2, 8, "differential"), 2, "differential")
    _, saturated = mvm_packed(pack_inputs(x, 128, 8, 1), pack_levels(bl, 128, 2), groups, 5, input_bits=8,
                              dac_bits=1, cell_bits=2, signed_inputs=False, adc_bits=4, step=1.0)
    assert saturated > 0


@SETTINGS
@given(configs(), st.floats(0, 0.3), st.floats(0, 0.3))
def test_clip_range_matches_reference_bit_for_bit(case, p0, p1):
    x, w, cfg, rng = case
    shape = (n_arrays(cfg["mapping"]), n_slices(cfg["weight_bits"], cfg["cell_bits"], cfg["mapping"])) + w.shape
    faults = sample_faults(shape, p0, p1, rng)
    kw = dict(cfg, adc_range="clip", faults=faults)
    np.testing.assert_array_equal(crossbar_mvm(x, w, **kw), crossbar_mvm_reference(x, w, **kw))


def _column_sums(x, w, rows, cell_bits, weight_bits, input_bits, mapping):
    """Every column sum (row tile, cycle, batch, bit line), with the bit line's output column: the spec's
    arithmetic written out with numpy matmuls."""
    bl, groups = plain_bitlines(slice_levels(w, cell_bits, weight_bits, mapping), cell_bits, mapping)
    sums = [((x[:, t0:t0 + rows] >> k) & 1) @ bl[t0:t0 + rows].astype(np.int64)
            for t0 in range(0, x.shape[1], rows) for k in range(input_bits)]
    return np.stack(sums), groups.out


@pytest.mark.parametrize("mapping", ["differential", "offset"])
@pytest.mark.parametrize("inputs", ["sparse", "mixed", "dense"])
def test_clip_at_8_bits_is_exact_below_255_and_saturates_exactly_above(mapping, inputs):
    """Step 1, top code 255 on 128-row tiles of 2-bit cells: a column whose sums all stay <= 255 comes out
    as the exact product, and every sum above 255 is one saturated conversion that reads 255."""
    rng = np.random.default_rng(len(inputs) + len(mapping))
    n_in, n_out = 256, 24
    x = rng.integers(240 if inputs == "dense" else 0, 256, (16, n_in))
    if inputs == "sparse":
        x *= rng.random(x.shape) < 0.08
    if inputs == "mixed":
        x[::2] = 255  # half the inputs drive every row in every cycle
    w = rng.integers(-127, 128, (n_in, n_out))
    w[:, n_out // 2:] = rng.integers(96, 128, (n_in, n_out - n_out // 2))  # large positive columns
    if inputs == "dense":
        w = rng.integers(112, 128, (n_in, n_out))  # slice 2 at level 3 on every row: 384 > 255
    kw = dict(rows=128, cell_bits=2, weight_bits=8, input_bits=8, dac_bits=1, adc_bits=8, mapping=mapping,
              adc_range="clip")
    y = crossbar_mvm(x, w, **kw)
    np.testing.assert_array_equal(y, crossbar_mvm_reference(x, w, **kw))
    sums, out_of = _column_sums(x, w, 128, 2, 8, 8, mapping)          # (tiles*cycles, batch, B)
    clipped_bl = (sums > 255).any(axis=(0, 1))
    clean = ~np.isin(np.arange(n_out), out_of[clipped_bl])
    np.testing.assert_array_equal(y[:, clean], (x @ w)[:, clean])
    if inputs == "sparse":
        assert clean.all()  # about 10 rows driven per cycle: nothing reaches 256
    else:
        assert (~clean).any() and not np.array_equal(y, x @ w)
    if inputs == "dense":
        assert not clean.any()
    bl, groups = plain_bitlines(slice_levels(w, 2, 8, mapping), 2, mapping)
    _, saturated = mvm_packed(pack_inputs(x, 128, 8, 1), pack_levels(bl, 128, 2), groups, n_out, input_bits=8,
                              dac_bits=1, cell_bits=2, signed_inputs=False, adc_bits=8, step=1.0)
    assert saturated == int((sums > 255).sum())


# --- weight flipping (ISAAC) -----------------------------------------------------------------------

@st.composite
def isaac_cases(draw):
    """128-row tiles of 2-bit cells, 1-bit DACs, 8-bit inputs: random, all-high or all-low weights and
    inputs that drive every row (the column sums an unflipped 8-bit ADC cannot hold)."""
    signed = draw(st.booleans())
    mapping = draw(st.sampled_from(["differential", "offset"]))
    n_in, n_out, batch = draw(st.integers(1, 300)), draw(st.integers(1, 10)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["random", "high", "low", "mixed"]))
    w = {"random": lambda: rng.integers(-127, 128, (n_in, n_out)),
         "high": lambda: rng.integers(112, 128, (n_in, n_out)),
         "low": lambda: rng.integers(-127, -111, (n_in, n_out)),
         "mixed": lambda: rng.integers(-127, 128, (n_in, n_out)) // np.array([1, 64])[rng.integers(0, 2, (1, n_out))],
         }[kind]()
    lo, hi = (-128, 128) if signed else (0, 256)
    x = rng.integers(lo, hi, (batch, n_in))
    if draw(st.booleans()):
        x[:] = -1 if signed else 255  # every bit of every input set: every row driven in every cycle
    return x, w, dict(rows=128, cell_bits=2, weight_bits=8, input_bits=8, dac_bits=1, adc_bits=8,
                      mapping=mapping, signed_inputs=signed)


@SETTINGS
@given(isaac_cases(), st.sampled_from(["full", "clip"]))
def test_weight_flip_makes_an_8_bit_adc_on_128_rows_exact(case, adc_range):
    """ISAAC's claim: with flipping no column sum of 128 rows of 2-bit cells exceeds 192, so an 8-bit ADC at
    step 1 loses nothing; both mappings, signed and unsigned inputs, the plain reference included."""
    x, w, cfg = case
    assert full_range_step(128, 2, 1, 8, weight_flip=True) == 1
    kw = dict(cfg, adc_range=adc_range, weight_flip=True)
    np.testing.assert_array_equal(crossbar_mvm(x, w, **kw), x @ w)
    np.testing.assert_array_equal(crossbar_mvm_reference(x, w, **kw), x @ w)


def test_without_flipping_the_same_8_bit_adc_is_not_exact():
    x = np.full((2, 128), 255)
    w = np.full((128, 3), 127)
    w[0] = 0
    for adc_range in ("full", "clip"):
        y = crossbar_mvm(x, w, adc_bits=8, adc_range=adc_range)
        assert not np.array_equal(y, x @ w)  # column sums of 381: step 2 (full) or clipped at 255 (clip)
        np.testing.assert_array_equal(crossbar_mvm(x, w, adc_bits=8, adc_range=adc_range, weight_flip=True), x @ w)


@SETTINGS
@given(configs(), st.floats(0, 0.3), st.floats(0, 0.3), st.sampled_from(["full", "clip", "calibrated"]),
       st.floats(1.0, 40.0))
def test_weight_flip_matches_reference_with_faults_on_any_range(case, p0, p1, adc_range, step):
    x, w, cfg, rng = case
    shape = (n_arrays(cfg["mapping"]), n_slices(cfg["weight_bits"], cfg["cell_bits"], cfg["mapping"])) + w.shape
    faults = sample_faults(shape, p0, p1, rng)
    kw = dict(cfg, adc_range=adc_range, adc_step=step if adc_range == "calibrated" else None, faults=faults,
              weight_flip=True)
    fast, slow = crossbar_mvm(x, w, **kw), crossbar_mvm_reference(x, w, **kw)
    if adc_range == "calibrated":  # the step is not an integer: the two add in different orders
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-6 * max(1.0, np.abs(slow).max()))
    else:
        np.testing.assert_array_equal(fast, slow)


@SETTINGS
@given(configs())
def test_weight_flip_is_lossless_one_adc_bit_earlier(case):
    """With flipping the full scale halves: ``ceil(log2(floor(rows L / 2) D + 1))`` ADC bits are exact."""
    x, w, cfg, _ = case
    bits = max(1, math.ceil(math.log2(full_scale(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"], True) + 1)))
    kw = dict(cfg, adc_bits=bits, weight_flip=True)
    assert full_range_step(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"], bits, True) == 1
    np.testing.assert_array_equal(crossbar_mvm(x, w, **kw), x @ w)


@pytest.mark.parametrize("fault, expected_weight", [(1, 63), (2, -63)])
def test_stuck_cells_of_a_flipped_bit_line_read_the_complement(fault, expected_weight):
    """w = 127 on all 128 rows (differential): slices 0-2 sit at level 3 (sum 384 > 192: flipped, stored 0),
    slice 3 at level 1 and the negative array at 0 (not flipped). All stuck at SA0 (stored 0): the flipped
    slices read 3 after the correction, the others 0, weight 3 + 12 + 48 = 63. All SA1 (stored 3): flipped
    slices read 0, slice 3 reads 3 (192) and the negative array 255: 192 - 255 = -63."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, (4, 128))
    w = np.full((128, 1), 127)
    faults = np.full((2, 4, 128, 1), fault, np.uint8)
    kw = dict(adc_bits=9, faults=faults, weight_flip=True)
    expected = expected_weight * x.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(crossbar_mvm(x, w, **kw), expected)
    np.testing.assert_array_equal(crossbar_mvm_reference(x, w, **kw), expected)


def test_flip_decision_is_per_row_tile_and_bit_line():
    from kernels.flip import flip_mask, flipped_levels, logical_faults
    levels = np.zeros((5, 3), np.uint8)
    levels[:3, 0] = 3          # tile 0 of column 0: 9 > 3 * 3 / 2
    levels[3:, 1] = [2, 1]     # tile 1 (2 rows) of column 1: 3, exactly half of 2 * 3: kept
    levels[3:, 2] = [3, 2]     # 5 > 3: flipped
    flip = flip_mask(levels, 3, 2)
    np.testing.assert_array_equal(flip, [[True, False, False], [False, False, True]])
    stored = flipped_levels(levels, flip, 3, 2)
    np.testing.assert_array_equal(stored[:3, 0], 0)
    np.testing.assert_array_equal(stored[3:, 2], [0, 1])
    np.testing.assert_array_equal(flipped_levels(stored, flip, 3, 2), levels)
    fmap = np.ones((5, 3), np.uint8)
    np.testing.assert_array_equal(logical_faults(fmap, flip, 3), np.where(np.repeat(flip, 3, 0)[:5], 2, 1))


@pytest.mark.parametrize("mapping", ["differential", "offset"])
@pytest.mark.parametrize("cell_bits", [1, 2, 3, 4])
def test_all_sa0_contributes_nothing_and_all_sa1_reads_top_level(mapping, cell_bits):
    rng = np.random.default_rng(cell_bits)
    weight_bits, rows = 8, 64
    x = rng.integers(0, 256, (3, 150))
    w = rng.integers(-127, 128, (150, 7))
    shape = (n_arrays(mapping), n_slices(weight_bits, cell_bits, mapping)) + w.shape
    adc_bits = lossless_adc_bits(rows, cell_bits, 1)
    kw = dict(rows=rows, cell_bits=cell_bits, weight_bits=weight_bits, adc_bits=adc_bits, mapping=mapping)
    offset = (1 << (weight_bits - 1)) * x.sum(axis=1, keepdims=True)

    y0 = crossbar_mvm(x, w, faults=np.ones(shape, np.uint8), **kw)
    expected0 = -offset if mapping == "offset" else np.zeros_like(offset)
    np.testing.assert_array_equal(y0, np.broadcast_to(expected0, y0.shape))

    y1 = crossbar_mvm(x, w, faults=np.full(shape, 2, np.uint8), **kw)
    top = (1 << cell_bits) - 1
    every_cell = sum(top << (s * cell_bits) for s in range(shape[1])) * x.sum(axis=1, keepdims=True)
    expected1 = every_cell - offset if mapping == "offset" else every_cell - every_cell
    np.testing.assert_array_equal(y1, np.broadcast_to(expected1, y1.shape))


def test_faults_on_zero_weights_still_contribute():
    x = np.full((1, 4), 3)
    w = np.zeros((4, 1), dtype=np.int64)
    faults = np.zeros((2, 4, 4, 1), np.uint8)
    faults[0, 0, 2, 0] = 2  # one SA1 cell in the positive array, least significant slice
    y = crossbar_mvm(x, w, adc_bits=12, faults=faults)
    assert y[0, 0] == 3 * 3  # input 3 times level 3


def test_fault_sampler_rates_seeds_and_clustering():
    shape = (2, 4, 512, 256)
    a = sample_faults(shape, 0.0175, 0.0904, np.random.default_rng(7))
    b = sample_faults(shape, 0.0175, 0.0904, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert abs((a == 1).mean() - 0.0175) < 0.001 and abs((a == 2).mean() - 0.0904) < 0.002
    c = sample_faults(shape, 0.0175, 0.0904, np.random.default_rng(7), model="column", rows=128)
    assert abs((c == 1).mean() - 0.0175) < 0.003 and abs((c == 2).mean() - 0.0904) < 0.006
    per_segment = (c.reshape(2, 4, 4, 128, 256) > 0).mean(axis=3)
    assert (per_segment == 0).mean() > 0.6  # most bit-line segments are clean, the rest dense
    assert per_segment.max() > 0.3


def test_column_sum_histogram_counts_every_sum():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 16, (5, 70))
    w = rng.integers(-7, 8, (70, 3))
    levels = slice_levels(w, 2, 4, "differential")
    bl, _ = plain_bitlines(levels, 2, "differential")
    counts, width = column_sum_histogram(
        pack_inputs(x, 32, 4, 1), pack_levels(bl, 32, 2), input_bits=4, dac_bits=1, cell_bits=2,
        full_scale=full_scale(32, 2, 1),
    )
    sums = []
    for t0 in range(0, 70, 32):
        for k in range(4):
            chunk = (x[:, t0:t0 + 32] >> k) & 1
            sums.append((chunk @ bl[t0:t0 + 32].astype(np.int64)).ravel())
    expected = np.bincount(np.concatenate(sums), minlength=len(counts))
    assert width == 1
    np.testing.assert_array_equal(counts, expected)


def _copies(levels_bitline, copies):
    """Bit-line matrix with every bit line repeated ``copies`` times and groups voting over them."""
    n_in, n_bl = levels_bitline.shape
    stacked = np.concatenate([levels_bitline] * copies, axis=1)
    members = np.stack([np.arange(n_bl) + c * n_bl for c in range(copies)], axis=1).astype(np.int64)
    return stacked, members


@pytest.mark.parametrize("vote", ["median", "mean", "test-aware"])
def test_voting_masks_a_stuck_copy(vote):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (6, 40))
    w = rng.integers(-127, 128, (40, 3))
    levels = slice_levels(w, 2, 8, "differential")
    bl, plain = plain_bitlines(levels, 2, "differential")
    copies = 3 if vote == "median" else 2
    stacked, members = _copies(bl, copies)
    stacked[:, members[:, 0]] = 3  # copy 0 of every bit line is stuck ON everywhere
    pick = np.ones((1, len(plain.out)), np.int64)  # the test found copy 1 healthy
    groups = BitlineGroups(members, plain.out, plain.coef, VOTE_MODES[vote], pick)
    kw = dict(input_bits=8, dac_bits=1, cell_bits=2, signed_inputs=False, adc_bits=12, step=1.0)
    y, _ = mvm_packed(pack_inputs(x, 64, 8, 1), pack_levels(stacked, 64, 2), groups, 3, **kw)
    if vote == "mean":  # a mean of two only halves the error
        assert not np.array_equal(y, x @ w)
    else:
        np.testing.assert_array_equal(y, x @ w)


def test_bitplane_baseline_agrees_with_kernel():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (9, 300))
    w = rng.integers(-127, 128, (300, 20))
    faults = sample_faults((2, 4, 300, 20), 0.0175, 0.0904, rng)
    bl, groups = plain_bitlines(apply_faults(slice_levels(w, 2, 8, "differential"), faults, 2), 2, "differential")
    common = dict(cell_bits=2, input_bits=8, dac_bits=1, adc_bits=8, signed_inputs=False)
    base = bitplane_matmul_mvm(x, bl, groups, 20, rows=128, **common)
    np.testing.assert_array_equal(base, crossbar_mvm(x, w, faults=faults))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(w_int=np.full((4, 2), 200)), "w_int values must be in"),
        (dict(w_int=np.full((4, 2), 0.5)), "w_int must hold integers"),
        (dict(x_int=np.full((3, 4), 256)), "x_int values must be in"),
        (dict(x_int=np.full((3, 4), -1)), "x_int values must be in"),
        (dict(x_int=np.zeros((3, 5), int)), "x_int has 5 columns but w_int has 4 rows"),
        (dict(cell_bits=0), "cell_bits must be in 1..8"),
        (dict(cell_bits=9), "cell_bits must be in 1..8"),
        (dict(adc_bits=0), "adc_bits must be in 1..32"),
        (dict(signed_inputs=True, dac_bits=2), "dac_bits must be 1 with signed_inputs=True"),
        (dict(mapping="balanced"), "mapping must be one of differential, offset"),
        (dict(adc_range="auto"), "adc_range must be one of full, calibrated, clip"),
        (dict(adc_range="clip", adc_step=2.0), "adc_step is only used with adc_range='calibrated'"),
        (dict(weight_flip=1), "weight_flip must be True or False"),
        (dict(adc_range="calibrated"), "adc_step must be a finite number >= 1"),
        (dict(faults=np.zeros((2, 4, 4, 3), np.uint8)), "faults must have shape (A, S, in, out) = (2, 4, 4, 2)"),
        (dict(faults=np.full((2, 4, 4, 2), 3, np.uint8)), "faults values must be 0 (healthy), 1 (SA0, OFF) or 2"),
    ],
)
def test_bad_input_names_the_argument(kwargs, fragment):
    args = dict(x_int=np.ones((3, 4), int), w_int=np.ones((4, 2), int))
    args.update(kwargs)
    with pytest.raises(ValueError) as err:
        crossbar_mvm(**args)
    assert fragment in str(err.value)


def test_second_process_loads_compiled_kernels_from_cache():
    import subprocess
    import sys

    code = ("import json; from dse.experiments.bench import first_call_cost; from dse.config import HardwareConfig; "
            "print(json.dumps(first_call_cost(HardwareConfig())))")
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout) for _ in range(2)]
    assert runs[1]["compiled"] is False


@pytest.mark.parametrize("per_column", [False, True])
def test_weight_quantisation_round_trips_within_half_a_step(per_column):
    from kernels import quantize_weights

    w = np.random.default_rng(0).normal(size=(30, 7)) * np.arange(1, 8)
    w_int, scale = quantize_weights(w, 8, per_column=per_column)
    assert np.abs(w_int).max() <= 127 and np.abs(w_int).max(axis=0 if per_column else None).min() == 127
    assert np.all(np.abs(w_int * scale - w) <= scale / 2 + 1e-12)


@pytest.mark.parametrize("signed", [False, True])
def test_activation_quantisation_clips_into_the_input_range(signed):
    from kernels import activation_scale, quantize_activations

    x = np.linspace(-2.0 if signed else 0.0, 2.0, 101)
    scale = activation_scale(1.0, 8, signed)
    x_int = quantize_activations(x, scale, 8, signed)
    lo, hi = (-128, 127) if signed else (0, 255)
    assert x_int.min() == lo if signed else x_int.min() == 0
    assert x_int.max() == hi
    inside = np.abs(x) <= 1.0
    assert np.all(np.abs(x_int[inside] * scale - x[inside]) <= scale / 2 + 1e-12)


def test_numba_cache_is_keyed_by_every_kernel_source(tmp_path):
    # Numba checks only a function's own file; the cache folder changes with any kernel module, so a
    # kernel never keeps code compiled against an older version of a helper it inlines.
    import shutil

    import numba

    import kernels
    from kernels import numba_cache_dir

    for path in Path(kernels.__file__).parent.glob("*.py"):
        shutil.copy(path, tmp_path / path.name)
    before = numba_cache_dir(tmp_path)
    assert numba_cache_dir(tmp_path) == before and before.parent == tmp_path / "__pycache__"
    (tmp_path / "rng.py").write_text((tmp_path / "rng.py").read_text() + "\n# edited\n")
    assert numba_cache_dir(tmp_path) != before
    expected = os.environ.get("NUMBA_CACHE_DIR") or str(numba_cache_dir())
    assert numba.config.CACHE_DIR == expected
