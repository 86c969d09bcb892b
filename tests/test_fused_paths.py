"""The fused fast paths around the crossbar kernel give the same bits as the plain numpy steps they replace.

Fault sampling (raw generator words instead of float32 draws), applying faults while packing, quantise +
im2col + pack of a layer's inputs, dequantise + bias + fold of its outputs, and the simulator's layer
call built from them: each is compared bit for bit with the straightforward composition.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.mapping import map_network
from dse.simulate import chip_layers, run_network
from dse.workloads.data import Splits
from dse.workloads.layers import Conv2d, Flatten, Linear, ReLU
from dse.workloads.workload import Workload
from kernels import (
    SA0,
    SA1,
    apply_faults,
    mvm_int,
    pack_inputs,
    pack_levels,
    quantize_activations,
    sample_faults,
)
from kernels.faults import sample_iid
from kernels.layer_io import dequantize_fold, pack_layer_inputs

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def numpy_iid(shape, sa0_rate, sa1_rate, rng):
    """The sampler as first written: float32 draws compared with float32 thresholds."""
    u = rng.random(shape, dtype=np.float32)
    faults = (u < np.float32(sa0_rate + sa1_rate)).astype(np.uint8) * np.uint8(SA1)
    faults[u < np.float32(sa0_rate)] = SA0
    return faults


rates = st.tuples(st.floats(0, 0.6), st.floats(0, 0.4)) | st.sampled_from([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0),
                                                                             (0.0175, 0.0904), (0.5, 0.5)])


@SETTINGS
@given(st.lists(st.integers(0, 9), min_size=1, max_size=4), rates, st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_iid_sampler_is_the_float32_sampler_and_leaves_the_same_state(shape, rate, drawn_before, seed):
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    a.random(drawn_before, dtype=np.float32)  # an odd count leaves half a word buffered in the generator
    b.random(drawn_before, dtype=np.float32)
    fast, slow = sample_iid(tuple(shape), *rate, a), numpy_iid(tuple(shape), *rate, b)
    assert fast.dtype == slow.dtype == np.uint8 and fast.shape == slow.shape
    np.testing.assert_array_equal(fast, slow)
    assert a.bit_generator.state == b.bit_generator.state
    np.testing.assert_array_equal(a.random(3, dtype=np.float32), b.random(3, dtype=np.float32))
    np.testing.assert_array_equal(a.random(2), b.random(2))


@pytest.mark.parametrize("rows", [1, 5, 128])
def test_column_sampler_keeps_its_maps(rows):
    for seed in range(5):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        fast = sample_faults((2, 3, 70, 9), 0.02, 0.09, a, model="column", rows=rows)
        # the clustered sampler as first written, on the float32 sampler
        bad_segment = b.random((2, 3, -(-70 // rows), 9)) < 0.25
        bad_cell = np.repeat(bad_segment, rows, axis=-2)[..., :70, :]
        slow = numpy_iid((2, 3, 70, 9), 0.02 / 0.25, 0.09 / 0.25, b)
        slow[~bad_cell] = 0
        np.testing.assert_array_equal(fast, slow)


def test_other_bit_generators_take_numpys_float32_draws():
    a, b = np.random.Generator(np.random.Philox(3)), np.random.Generator(np.random.Philox(3))
    np.testing.assert_array_equal(sample_iid((40, 7), 0.1, 0.2, a), numpy_iid((40, 7), 0.1, 0.2, b))


@SETTINGS
@given(st.integers(1, 300), st.integers(1, 70), st.integers(1, 4), st.sampled_from([1, 7, 64, 100, 128]),
       st.integers(0, 2**32 - 1))
def test_faults_applied_while_packing_equal_applied_then_packed(n_rows, n_cols, cell_bits, rows, seed):
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 1 << cell_bits, (n_rows, n_cols)).astype(np.uint8)
    faults = sample_faults(levels.shape, 0.2, 0.3, rng)
    faulty = levels.copy()
    faulty[faults == SA0] = 0
    faulty[faults == SA1] = (1 << cell_bits) - 1
    np.testing.assert_array_equal(apply_faults(levels, faults, cell_bits), faulty)
    np.testing.assert_array_equal(apply_faults(levels.astype(np.int64), faults, cell_bits), faulty)
    np.testing.assert_array_equal(pack_levels(levels, rows, cell_bits, faults=faults),
                                  pack_levels(faulty, rows, cell_bits))
    np.testing.assert_array_equal(pack_levels(levels, rows, cell_bits),
                                  pack_levels(levels.astype(np.int64), rows, cell_bits))


def assert_same_planes(fast, packed):
    """The planes of ``pack_inputs``, where the fast path may leave out trailing words no row reaches."""
    assert fast.shape[:3] == packed.shape[:3] and 1 <= fast.shape[3] <= packed.shape[3]
    np.testing.assert_array_equal(fast, packed[..., :fast.shape[3]])
    assert not packed[..., fast.shape[3]:].any()


def gather_index(layer, sample_shape, keep_rows):
    probe = np.arange(1, int(np.prod(sample_shape)) + 1, dtype=np.float64).reshape((1, *sample_shape))
    return layer.im2col(probe)[:, keep_rows].astype(np.int64) - 1


@st.composite
def layer_cases(draw):
    """A Linear or Conv2d layer (any stride and padding it supports), an input batch and a quantisation."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        channels, k = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        h, w = draw(st.integers(k, 9)), draw(st.integers(k, 9))
        padding, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
        out_channels = draw(st.integers(1, 6))
        layer = Conv2d(rng.normal(size=(out_channels, channels, k, k)), rng.normal(size=out_channels),
                       stride=stride, padding=padding)
        sample_shape = (channels, h, w)
    else:
        n_in = draw(st.integers(1, 200))
        n_out = draw(st.integers(1, 12))
        layer = Linear(rng.normal(size=(n_in, n_out)), rng.normal(size=n_out))
        sample_shape = (draw(st.integers(1, 3)), n_in) if draw(st.booleans()) else (n_in,)
    signed = draw(st.booleans())
    x = rng.normal(size=(draw(st.integers(1, 5)), *sample_shape)) * draw(st.sampled_from([0.1, 1.0, 30.0]))
    if not signed:
        x = np.abs(x)
    n_rows = layer.matrix().shape[0]
    keep_rows = np.sort(rng.choice(n_rows, draw(st.integers(1, n_rows)), replace=False)) if draw(st.booleans()) \
        else np.arange(n_rows)
    hw = dict(input_bits=draw(st.integers(1, 16)), rows=draw(st.sampled_from([1, 5, 64, 100, 128])))
    hw["dac_bits"] = 1 if signed else draw(st.integers(1, 3))
    return layer, x, keep_rows, signed, hw, draw(st.sampled_from([0.013, 0.1, 1.0, 7.0]))


@SETTINGS
@given(layer_cases())
def test_layer_inputs_packed_in_one_pass_equal_im2col_quantise_pack(case):
    layer, x, keep_rows, signed, hw, scale = case
    x_int = quantize_activations(layer.im2col(x)[:, keep_rows], scale, hw["input_bits"], signed)
    index = gather_index(layer, x.shape[1:], keep_rows)
    xp, sums, ints = pack_layer_inputs(x.reshape(len(x), -1), index, scale=scale, signed=signed, want_sums=True,
                                       want_ints=True, **hw)
    np.testing.assert_array_equal(ints, x_int)
    np.testing.assert_array_equal(sums, x_int.sum(axis=1))
    assert_same_planes(xp, pack_inputs(x_int, hw["rows"], hw["input_bits"], hw["dac_bits"]))


def test_inputs_quantise_halves_to_even_and_clip():
    x = np.array([[0.5, 1.5, 2.5, -0.5, -1.5, 300.0, -300.0, np.inf, -np.inf, 3.49999]])
    index = np.arange(x.shape[1])[None]
    for signed in (False, True):
        _, _, ints = pack_layer_inputs(x, index, scale=1.0, input_bits=8, signed=signed, rows=128, dac_bits=1,
                                       want_ints=True)
        np.testing.assert_array_equal(ints, quantize_activations(x, 1.0, 8, signed))


@SETTINGS
@given(layer_cases(), st.booleans())
def test_outputs_dequantised_and_folded_in_one_pass_equal_the_numpy_steps(case, prune):
    layer, x, _, _, _, _ = case
    rng = np.random.default_rng(len(x))
    n_cols = layer.matrix().shape[1]
    keep_cols = np.sort(rng.choice(n_cols, rng.integers(1, n_cols + 1), replace=False)) if prune else np.arange(n_cols)
    rows = layer.im2col(x)
    y_int = rng.integers(-5000, 5000, (rows.shape[0], len(keep_cols))).astype(np.float64)
    y_int[0, 0] = -0.0
    scale = 0.037 * rng.uniform(0.5, 2.0, len(keep_cols))
    layer.params["bias"][0] = -0.0
    expected_rows = np.zeros((rows.shape[0], n_cols))
    expected_rows[:, keep_cols] = y_int * scale[None, :]
    expected_rows = expected_rows + layer.bias
    n = x.shape[0]
    if isinstance(layer, Conv2d):
        out_hw = layer.output_hw(*x.shape[2:])
        expected = layer.fold(expected_rows, n, out_hw)
        got = dequantize_fold(y_int, scale, keep_cols, layer.bias, n_cols, out_hw[0] * out_hw[1], True)
        got = got.reshape(expected.shape)
    else:
        expected = layer.fold(expected_rows, n)
        got = layer.fold(dequantize_fold(y_int, scale, keep_cols, layer.bias, n_cols, 1, False).reshape(-1, n_cols), n)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint64), np.ascontiguousarray(expected).view(np.uint64))  # signed zeros too


SPECIAL_VALUES = ((-0.0, 0.1), (0.0, 0.1), (np.nan, 0.03), (-np.nan, 0.03), (np.inf, 0.03), (-np.inf, 0.03))


def with_special_values(y, rng, nan=True):
    """``y`` with signed zeros, NaNs of both signs (unless not ``nan``) and infinities sprinkled in (ties
    and NaN rules). Biases get no NaN: which of two NaN operands a sum returns is the compiler's choice."""
    y = y.copy()
    for value, share in SPECIAL_VALUES:
        if nan or value == value:
            y[rng.random(y.shape) < share] = value
    return y


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 9), st.integers(1, 5), st.booleans(), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_relu_in_the_output_pass_equals_np_maximum(n, positions, n_cols, prune, channels_first, seed):
    """``relu=True`` is ``np.maximum(out, 0.0)`` of the plain output pass, bit for bit (NaN kept, -0.0 to +0.0)."""
    rng = np.random.default_rng(seed)
    keep_cols = np.sort(rng.choice(n_cols, rng.integers(1, n_cols + 1), replace=False)) if prune else np.arange(n_cols)
    y = with_special_values(rng.integers(-50, 50, (n * positions, len(keep_cols))).astype(np.float64), rng)
    scale = rng.uniform(0.01, 2.0, len(keep_cols))
    bias = with_special_values(rng.normal(size=n_cols), rng, nan=False)
    plain = dequantize_fold(y, scale, keep_cols, bias, n_cols, positions, channels_first)
    got = dequantize_fold(y, scale, keep_cols, bias, n_cols, positions, channels_first, relu=True)
    np.testing.assert_array_equal(got.view(np.uint64), np.maximum(plain, 0.0).view(np.uint64))


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(1, 6), st.integers(0, 7),
       st.integers(0, 7), st.booleans(), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_output_pass_with_max_pooling_equals_fold_then_max_pool(kernel, stride, n, n_cols, extra_h, extra_w, prune,
                                                                 relu, special, seed):
    """The fused output pass + ReLU + max pooling gives ``max_pool`` of the unfused output, bit for bit:
    ties (0.0 and -0.0) to the first element, the first NaN wins, pruned columns, any kernel and stride."""
    from kernels.layer_io import dequantize_fold_pool
    from kernels.pooling import max_pool

    rng = np.random.default_rng(seed)
    h, w = kernel + extra_h, kernel + extra_w
    keep_cols = np.sort(rng.choice(n_cols, rng.integers(1, n_cols + 1), replace=False)) if prune else np.arange(n_cols)
    y = rng.integers(-3, 4, (n * h * w, len(keep_cols))).astype(np.float64)  # small integers: many ties
    bias = rng.integers(-2, 3, n_cols) * 0.5
    if special:
        y, bias = with_special_values(y, rng), with_special_values(bias, rng, nan=False)
    scale = rng.choice([0.5, 1.0, 2.0], len(keep_cols))
    unfused = dequantize_fold(y, scale, keep_cols, bias, n_cols, h * w, True, relu=relu).reshape(n, n_cols, h, w)
    expected = max_pool(unfused, kernel, stride)
    got = dequantize_fold_pool(y, scale, keep_cols, bias, n_cols, (h, w), relu, kernel, stride)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint64), expected.view(np.uint64))


def test_output_pass_with_max_pooling_of_a_large_batch_takes_the_threaded_path():
    from kernels.layer_io import PARALLEL_WORK, dequantize_fold_pool
    from kernels.pooling import max_pool

    rng = np.random.default_rng(9)
    n, n_cols, h, w = 400, 16, 8, 8
    keep_cols = np.array([0, 2, 3, 7, 8, 11, 15])
    y = rng.integers(-999, 999, (n * h * w, len(keep_cols))).astype(np.float64)
    y[rng.random(y.shape) < 0.001] = np.nan
    scale = rng.uniform(0.01, 0.1, len(keep_cols))
    bias = rng.normal(size=n_cols)
    assert n * n_cols * h * w >= PARALLEL_WORK
    for relu in (False, True):
        unfused = dequantize_fold(y, scale, keep_cols, bias, n_cols, h * w, True, relu=relu).reshape(n, n_cols, h, w)
        got = dequantize_fold_pool(y, scale, keep_cols, bias, n_cols, (h, w), relu, 2, 2)
        np.testing.assert_array_equal(got.view(np.uint64), max_pool(unfused, 2, 2).view(np.uint64))


def numpy_run_network(net, chip, x):
    """The simulator's layer call as first written: im2col, quantise, mvm_int, dequantise, bias, fold."""
    hw = net.hw

    def crossbar(index, layer, a):
        mapped = net.layers[index]
        x_int = mapped.quantize_inputs(layer.im2col(a), hw)
        y_int, _ = mvm_int(x_int, chip[index].wp, chip[index].groups, mapped.n_out, rows=hw.rows,
                           input_bits=hw.input_bits, dac_bits=hw.dac_bits, cell_bits=hw.cell_bits,
                           signed_inputs=mapped.signed_inputs, adc_bits=hw.adc_bits, step=mapped.adc_step,
                           mapping=hw.mapping, weight_bits=hw.weight_bits)
        out_hw = layer.output_hw(*a.shape[2:]) if hasattr(layer, "output_hw") else None
        return layer.fold(mapped.dequantize(y_int, layer.out_features) + layer.bias, a.shape[0], out_hw)

    return net.workload.forward_with(x, crossbar)


def small_cnn(signed: bool, seed: int = 0) -> Workload:
    """Two convolutions (padding, stride 2) and a linear layer on random 2-channel 7x7 images."""
    rng = np.random.default_rng(seed)
    layers = [Conv2d(rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6), padding=1, name="c1"), ReLU(),
              Conv2d(rng.normal(size=(5, 6, 3, 3)), rng.normal(size=5), stride=2, padding=1, name="c2"),
              ReLU(), Flatten(), Linear(rng.normal(size=(5 * 4 * 4, 3)), rng.normal(size=3), name="fc")]
    low = -1.0 if signed else 0.0

    def data(n):
        return rng.uniform(low, 1.0, size=(n, 2, 7, 7)), rng.integers(0, 3, n)

    (xtr, ytr), (xc, yc), (xt, yt) = data(20), data(40), data(30)
    return Workload.from_splits("small-cnn", layers, (2, 7, 7), Splits(xtr, ytr, xc, yc, xt, yt))


def assert_chips_equal_the_numpy_composition(workload, hw, protection):
    """The fault-free chip and two faulty ones: run_network's outputs (on the exact path where it applies,
    and on the packed layer paths alone) equal numpy_run_network's on the popcount kernel, bit for bit."""
    net = map_network(workload, hw, protection)
    faults = FaultScenario(0.03, 0.1, n_chips=2)
    for chip in (None, 0, 1):
        scenario = faults if chip is not None else None
        packed = chip_layers(net, scenario, chip, exact=False)
        slow = numpy_run_network(net, packed, workload.x_test)
        for layers in (chip_layers(net, scenario, chip), packed):
            fast = run_network(net, layers, workload.x_test)
            np.testing.assert_array_equal(fast.view(np.uint64), slow.view(np.uint64))


@pytest.mark.parametrize("hw, protection, signed", [
    (HardwareConfig(), None, False),
    (HardwareConfig(), None, True),
    (HardwareConfig(mapping="offset", adc_range="calibrated", adc_bits=5), None, True),
    (HardwareConfig(rows=16, dac_bits=2, cell_bits=3, input_bits=7), None, False),
    (HardwareConfig(rows=8, cell_bits=1, adc_bits=3), Protection(row_prune=0.3, col_prune=0.3), False),
    (HardwareConfig(), Protection(col_prune=0.3, dup_copies=3, vote="median"), False),
    (HardwareConfig(), Protection(col_prune=0.3, dup_copies=2, vote="test-aware", remap=True), True),
    (HardwareConfig(mapping="offset", adc_range="clip", adc_bits=6, weight_flip=True), None, True),
    (HardwareConfig(mapping="offset", weight_flip=True), Protection(dup_copies=2, vote="test-aware", remap=True,
                                                                    compensate=True), False),
])
def test_simulator_layers_equal_the_numpy_composition(hw, protection, signed):
    assert_chips_equal_the_numpy_composition(small_cnn(signed), hw, protection)


def pooled_cnn(seed: int = 0) -> Workload:
    """Crossbar layers followed by ReLU + max pooling, max pooling alone (overlapping windows), and a
    linear layer + ReLU: every case the simulator's output pass takes over."""
    from dse.workloads.layers import MaxPool2d

    rng = np.random.default_rng(seed)
    layers = [Conv2d(rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6), padding=1, name="c1"), ReLU(),
              MaxPool2d(2, name="p1"),
              Conv2d(rng.normal(size=(5, 6, 2, 2)), rng.normal(size=5), padding=1, name="c2"),
              MaxPool2d(3, stride=1, name="p2"), ReLU(), Flatten(),
              Linear(rng.normal(size=(5 * 2 * 2, 7)), rng.normal(size=7), name="fc1"), ReLU(),
              Linear(rng.normal(size=(7, 3)), rng.normal(size=3), name="fc2")]

    def data(n):
        return rng.uniform(0.0, 1.0, size=(n, 2, 7, 7)), rng.integers(0, 3, n)

    (xtr, ytr), (xc, yc), (xt, yt) = data(20), data(40), data(30)
    return Workload.from_splits("pooled-cnn", layers, (2, 7, 7), Splits(xtr, ytr, xc, yc, xt, yt))


@pytest.mark.parametrize("hw, protection", [
    (HardwareConfig(), None),
    (HardwareConfig(mapping="offset", adc_range="calibrated", adc_bits=5), None),
    (HardwareConfig(rows=8, cell_bits=1, adc_bits=3), Protection(row_prune=0.3, col_prune=0.3)),
    (HardwareConfig(), Protection(col_prune=0.4, dup_copies=3, vote="median")),
])
def test_simulator_with_relu_and_pooling_in_the_output_pass_equals_the_numpy_composition(hw, protection):
    assert_chips_equal_the_numpy_composition(pooled_cnn(), hw, protection)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 9),
       st.integers(0, 9), st.booleans(), st.integers(0, 2**32 - 1))
def test_inference_max_pooling_picks_what_argmax_picks(kernel, stride, n, c, extra_h, extra_w, strided, seed):
    """Ties (0.0 and -0.0 included) go to the first element, NaN wins, bit for bit, any layout."""
    from dse.workloads.layers import MaxPool2d

    rng = np.random.default_rng(seed)
    shape = (n, c, kernel + extra_h, kernel + extra_w)
    x = rng.integers(-2, 3, shape).astype(np.float64)
    for value, share in ((-0.0, 0.2), (0.0, 0.2), (np.nan, 0.05), (-np.nan, 0.05), (np.inf, 0.05)):
        x[rng.random(shape) < share] = value
    if strided:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    layer = MaxPool2d(kernel, stride)
    rows = layer._window_rows(x)
    expected = np.take_along_axis(rows, rows.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    got = layer.forward(x)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint64), np.ascontiguousarray(expected).view(np.uint64))
    np.testing.assert_array_equal(layer.forward(x, train=True).view(np.uint64), got.view(np.uint64))


def test_inference_max_pooling_of_a_large_batch_takes_the_threaded_path():
    from dse.workloads.layers import MaxPool2d
    from kernels.pooling import PARALLEL_WORK

    rng = np.random.default_rng(5)
    x = np.maximum(rng.normal(size=(80, 16, 16, 16)), 0.0)  # ReLU output: many zeros
    x[rng.random(x.shape) < 0.01] = np.nan
    layer = MaxPool2d(2)
    rows = layer._window_rows(x)
    expected = np.take_along_axis(rows, rows.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    assert expected.size * 4 >= PARALLEL_WORK
    np.testing.assert_array_equal(layer.forward(x).view(np.uint64), np.ascontiguousarray(expected).view(np.uint64))


@pytest.mark.parametrize("signed", [False, True])
def test_layer_io_of_a_large_batch_takes_the_threaded_path(signed):
    from kernels.layer_io import PARALLEL_WORK

    rng = np.random.default_rng(7)
    layer = Conv2d(rng.normal(size=(16, 1, 3, 3)), rng.normal(size=16), padding=1)
    x = rng.normal(size=(600, 1, 8, 8))
    x = x if signed else np.abs(x)
    keep_rows = np.array([0, 1, 2, 4, 5, 7, 8])
    x_int = quantize_activations(layer.im2col(x)[:, keep_rows], 0.02, 8, signed)
    assert x_int.size >= PARALLEL_WORK
    xp, sums, ints = pack_layer_inputs(x.reshape(600, -1), gather_index(layer, x.shape[1:], keep_rows), scale=0.02,
                                       input_bits=8, signed=signed, rows=128, dac_bits=1, want_sums=True,
                                       want_ints=True)
    assert_same_planes(xp, pack_inputs(x_int, 128, 8, 1))
    np.testing.assert_array_equal(ints, x_int)
    np.testing.assert_array_equal(sums, x_int.sum(axis=1))
    keep_cols = np.array([0, 3, 4, 9, 15])
    y_int = rng.integers(-999, 999, (x_int.shape[0], len(keep_cols))).astype(np.float64)
    scale = rng.uniform(0.01, 0.1, len(keep_cols))
    rows = np.zeros((len(y_int), 16))
    rows[:, keep_cols] = y_int * scale
    expected = layer.fold(rows + layer.bias, 600, (8, 8))
    got = dequantize_fold(y_int, scale, keep_cols, layer.bias, 16, 64, True).reshape(expected.shape)
    np.testing.assert_array_equal(got.view(np.uint64), np.ascontiguousarray(expected).view(np.uint64))


@pytest.mark.parametrize("hw, protection", [
    (HardwareConfig(), None),
    (HardwareConfig(mapping="offset", adc_range="calibrated", adc_bits=5), None),
    (HardwareConfig(rows=16, cell_bits=3), None),
    (HardwareConfig(rows=8, dac_bits=2), None),
    (HardwareConfig(), Protection(col_prune=0.3, dup_copies=3, vote="median")),
    (HardwareConfig(), Protection(col_prune=0.3, dup_copies=2, vote="test-aware", remap=True)),
])
def test_short_tile_tables_leave_every_network_output_unchanged(hw, protection, monkeypatch):
    """A 3x3 single-channel convolution (9 rows) and a 16-channel one (144 rows: a 16-row tile) over many
    positions take lookup tables; the outputs are those of the popcount kernel alone."""
    import kernels.crossbar as crossbar
    from kernels.tables import TABLE_NONE

    rng = np.random.default_rng(11)
    layers = [Conv2d(rng.normal(size=(16, 1, 3, 3)), rng.normal(size=16), padding=1, name="c1"), ReLU(),
              Conv2d(rng.normal(size=(4, 16, 3, 3)), rng.normal(size=4), padding=1, name="c2"), ReLU(),
              Flatten(), Linear(rng.normal(size=(4 * 6 * 6, 3)), rng.normal(size=3), name="fc")]

    def data(n):
        return rng.uniform(0.0, 1.0, size=(n, 1, 6, 6)), rng.integers(0, 3, n)

    (xtr, ytr), (xc, yc), (xt, yt) = data(10), data(40), data(120)
    workload = Workload.from_splits("tables", layers, (1, 6, 6), Splits(xtr, ytr, xc, yc, xt, yt))
    net = map_network(workload, hw, protection)
    layers_on_chip = chip_layers(net, FaultScenario(0.03, 0.1, n_chips=1), 0, exact=False)  # the tables' path
    fast = run_network(net, layers_on_chip, workload.x_test)
    monkeypatch.setattr(crossbar, "plan_tables", lambda xp, *args: [
        (TABLE_NONE, 0, np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int64))] * xp.shape[1])
    slow = run_network(net, layers_on_chip, workload.x_test)
    np.testing.assert_array_equal(fast.view(np.uint64), slow.view(np.uint64))


def test_bench_eval_reports_the_end_to_end_split(monkeypatch):
    from dse.experiments import bench

    monkeypatch.setattr(bench, "PAUSE_S", 0.0)
    result = bench.bench_eval("mlp-digits", repeats=1)
    assert result["chip_runs"] >= 1 and result["chip_s"] > 0
    assert result["bit_level_macs"] == 360 * (64 * 256 + 256 * 128 + 128 * 10) * 4 * 2 * 8
    assert 0 < result["kernel_share_of_chip"] <= 1
    assert result["fraction_of_kernel"] == pytest.approx(result["end_to_end_macs_per_s"] / result["kernel_macs_per_s"])
    assert 0.0 <= result["accuracy_one_chip"] <= 1.0  # unprotected at these rates it is low
    assert result["real_macs"] == 360 * (64 * 256 + 256 * 128 + 128 * 10)
    assert result["exact_layers"] == 3 and result["paths"] == {"exact-float32+rounding": 3}  # step 2: rounding
    assert result["chip_s_per_1000_samples"] == pytest.approx(result["chip_s"] * 1000 / 360)
