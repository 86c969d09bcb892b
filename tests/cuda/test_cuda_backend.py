"""The cuda backend against the CPU backend, bit for bit, on random configurations.

Runs under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, small shapes: every CUDA thread is a Python
thread) or on a GPU (``RERAM_DSE_TEST_GPU=1``); ``make test`` runs this folder as its own invocation.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels import (
    VOTE_MODES,
    BitlineGroups,
    crossbar_mvm,
    mvm_packed,
    pack_inputs,
    pack_levels,
    sample_faults,
)
from kernels.cuda import cuda_unavailable, simulated
from kernels.cuda.exact import exact_to_device, mvm_exact_cuda
from kernels.cuda.mvm import mvm_packed_cuda, to_device
from kernels.exact import exact_layer, mvm_exact
from kernels.slicing import n_arrays, n_slices
from kernels.testdata import lossless_adc_bits, random_inputs, random_weights

from crossbar_cases import crossbar_fields

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_runs_on_the_simulator_or_a_gpu():
    from numba import cuda

    assert cuda_unavailable() is None
    assert simulated() or cuda.is_available()


def bits(y: np.ndarray) -> np.ndarray:
    """The float64 outputs as their bit patterns: equal means bit for bit (signed zeros included)."""
    return np.ascontiguousarray(y, dtype=np.float64).view(np.int64)


@st.composite
def configs(draw):
    """A small random crossbar configuration, inputs, weights and a fault map (or none)."""
    cfg = crossbar_fields(draw, [3, 16, 64, 65, 100])
    lossless = lossless_adc_bits(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"])
    cfg["adc_bits"] = draw(st.integers(1, lossless + 1))  # saturating to lossless
    cfg["weight_flip"] = draw(st.booleans())
    adc_range = draw(st.sampled_from(["full", "calibrated", "clip"]))
    cfg["adc_range"] = adc_range
    if adc_range == "calibrated":
        cfg["adc_step"] = draw(st.sampled_from([1.0, 2.0, 3.7, 0.5 + lossless]))
    n_in, n_out, batch = draw(st.integers(1, 140)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = random_weights(rng, cfg["weight_bits"], n_in, n_out)
    x = random_inputs(rng, cfg["input_bits"], cfg["signed_inputs"], batch, n_in)
    rates = draw(st.sampled_from([(0.0, 0.0), (0.0175, 0.0904), (0.2, 0.2)]))
    if rates != (0.0, 0.0):
        shape = (n_arrays(cfg["mapping"]), n_slices(cfg["weight_bits"], cfg["cell_bits"], cfg["mapping"]), n_in, n_out)
        cfg["faults"] = sample_faults(shape, *rates, rng, model=draw(st.sampled_from(["iid", "column"])),
                                      rows=cfg["rows"])
    return x, w, cfg


@SETTINGS
@given(configs())
def test_crossbar_mvm_on_cuda_equals_cpu_bit_for_bit(case):
    x, w, cfg = case
    expected = crossbar_mvm(x, w, **cfg)
    np.testing.assert_array_equal(bits(crossbar_mvm(x, w, backend="cuda", **cfg)), bits(expected))


@st.composite
def grouped_layers(draw):
    """Random bit lines in random groups: copies (repeats allowed), every vote, outputs with no group,
    non-integer coefficients, a calibrated or power-of-two step, flipped bit lines or none; optionally
    inputs packed with fewer words per tile than the planes (a layer narrower than its crossbars)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows, cell_bits, dac_bits = draw(st.sampled_from([16, 64, 100])), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    input_bits, adc_bits = draw(st.integers(1, 6)), draw(st.integers(1, 9))
    n_in, n_bl, n_out = draw(st.integers(1, 130)), draw(st.integers(1, 12)), draw(st.integers(1, 5))
    levels = rng.integers(0, 1 << cell_bits, (n_in, n_bl))
    vote = draw(st.sampled_from(sorted(VOTE_MODES)))
    n_groups = draw(st.integers(1, 10))
    copies = 3 if vote == "median" else draw(st.integers(1, 3))
    sizes = rng.integers(1, copies + 1, n_groups) if vote != "median" else np.full(n_groups, 3)
    if vote == "median":
        sizes[rng.random(n_groups) < 0.3] = 1  # unprotected groups next to voted ones
    members = np.full((n_groups, copies), -1, dtype=np.int64)
    for g, size in enumerate(sizes):
        members[g, :size] = rng.integers(0, n_bl, size)
    out = rng.integers(0, n_out, n_groups)
    coef = rng.choice([1.0, -1.0, 4.0, -16.0, 0.375, -2.5, 0.1, -1 / 3], n_groups)
    tiles = -(-n_in // rows)
    pick = np.stack([rng.integers(0, size, tiles) for size in sizes], axis=1) if vote == "test-aware" else None
    flip = rng.random((tiles, n_bl)) < 0.4 if draw(st.booleans()) else None
    groups = BitlineGroups(members, out, coef, VOTE_MODES[vote], pick, flip)
    x = rng.integers(0, 1 << input_bits, (draw(st.integers(1, 3)), n_in))
    xp = pack_inputs(x, rows, input_bits, dac_bits)
    if draw(st.booleans()) and n_in < 64 and rows > 64:  # only word 0 of the tile is driven
        xp = np.ascontiguousarray(xp[..., :1])
    step = draw(st.sampled_from([1.0, 2.0, 8.0, 2.5, 100 / 7, 1234.5678 / 255]))  # calibrated: any float
    kw = dict(input_bits=input_bits, dac_bits=dac_bits, signed_inputs=False, adc_bits=adc_bits, step=step)
    return xp, pack_levels(levels, rows, cell_bits), groups, n_out, cell_bits, kw


@SETTINGS
@given(grouped_layers())
def test_groups_votes_and_saturation_on_cuda_equal_cpu(case):
    xp, wp, groups, n_out, cell_bits, kw = case
    expected, expected_sat = mvm_packed(xp, wp, groups, n_out, cell_bits=cell_bits, **kw)
    y, saturated = mvm_packed_cuda(xp, to_device(wp, groups, n_out), **kw)
    np.testing.assert_array_equal(bits(y), bits(expected))
    assert saturated == expected_sat


def test_resident_planes_serve_every_batch_unchanged():
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 4, (70, 9))
    groups = BitlineGroups(np.arange(9)[:, None], np.arange(9) % 3, np.ones(9))
    wp = pack_levels(levels, 64, 2)
    planes = to_device(wp, groups, 3)
    kw = dict(input_bits=4, dac_bits=1, signed_inputs=False, adc_bits=3, step=4.0)
    saturations = []
    for batch in (1, 3, 2):
        xp = pack_inputs(rng.integers(0, 16, (batch, 70)), 64, 4, 1)
        expected, sat = mvm_packed(xp, wp, groups, 3, cell_bits=2, **kw)
        y, saturated = mvm_packed_cuda(xp, planes, **kw)
        np.testing.assert_array_equal(bits(y), bits(expected))
        assert saturated == sat
        saturations.append(sat)
    assert max(saturations) > 0  # a 3-bit ADC on 64 rows clips: the counts were compared, not zeros
    np.testing.assert_array_equal(planes.wp.copy_to_host(), wp)


def test_packed_inputs_that_do_not_match_the_planes_are_refused():
    groups = BitlineGroups(np.arange(4)[:, None], np.arange(4) % 2, np.ones(4))
    planes = to_device(pack_levels(np.ones((130, 4), np.int64), 64, 2), groups, 2)  # 3 row tiles
    kw = dict(input_bits=4, dac_bits=1, signed_inputs=False, adc_bits=4, step=1.0)
    with pytest.raises(ValueError, match="do not share row tiles"):
        mvm_packed_cuda(pack_inputs(np.ones((2, 64), np.int64), 64, 4, 1), planes, **kw)
    with pytest.raises(ValueError, match="groups add into outputs"):
        to_device(pack_levels(np.ones((8, 4), np.int64), 64, 2), groups, 1)


@st.composite
def lossless_layers(draw):
    """A lossless layer's bit lines in random groups (every vote; means over 2 and 3 copies, which take the
    exact path's scaled and replayed forms; medians, its per-tile part), signed or unsigned inputs."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows, cell_bits, input_bits = draw(st.sampled_from([16, 64, 100])), draw(st.integers(1, 3)), draw(st.integers(2, 8))
    n_in, n_bl, n_out = draw(st.integers(1, 150)), draw(st.integers(3, 12)), draw(st.integers(1, 5))
    vote = draw(st.sampled_from(sorted(VOTE_MODES)))
    copies = 3 if vote == "median" else draw(st.integers(1, 3))
    n_groups = draw(st.integers(1, 8))
    members = np.stack([rng.permutation(n_bl)[:copies] for _ in range(n_groups)]).astype(np.int64)
    tiles = -(-n_in // rows)
    pick = rng.integers(0, copies, (tiles, n_groups)) if vote == "test-aware" else None
    groups = BitlineGroups(members, rng.integers(0, n_out, n_groups), rng.choice([1.0, -1.0, 4.0, -16.0], n_groups),
                           VOTE_MODES[vote], pick)
    levels = rng.integers(0, 1 << cell_bits, (n_in, n_bl)).astype(np.uint8)
    signed = draw(st.booleans())
    x = random_inputs(rng, input_bits, signed, draw(st.integers(1, 3)), n_in)
    lossless_bits = lossless_adc_bits(rows, cell_bits, 1)
    layer = exact_layer(levels, groups, n_out, rows=rows, cell_bits=cell_bits, dac_bits=1, adc_bits=lossless_bits,
                        step=1.0, input_bits=input_bits, signed_inputs=signed)
    return x, layer


@SETTINGS
@given(lossless_layers())
def test_exact_path_on_cuda_equals_cpu(case):
    x, layer = case
    assert layer is not None  # these small layers are always within the exactness bounds
    expected = mvm_exact(x.astype(np.float64), layer)[0]
    np.testing.assert_array_equal(bits(mvm_exact_cuda(x, exact_to_device(layer))), bits(expected))


@pytest.mark.skipif(simulated(), reason="PTX exists only for the real CUDA target")
def test_compiled_combine_has_no_fused_multiply_add():
    # NVVM contracts `y + a * b` into fma.rn.f64 (one rounding) unless the operations are the rn intrinsics;
    # the CPU kernel rounds twice. Compiled afresh for this GPU (scripts/cuda_ptx.py does it without one).
    from numba import cuda, typeof

    from kernels.cuda.mvm import _combine_groups

    i1, i2, i3 = np.zeros(1, np.int64), np.zeros((1, 1), np.int64), np.zeros((1, 1, 1), np.int64)
    args = (i3, i1, i1, i2, i1, np.zeros(1), 1, i2, 1.0, 1, np.zeros((1,) * 4, np.uint64), i1, 1, 1.0, True,
            np.zeros((1, 1), np.uint8), True, np.zeros((1, 1)))
    ptx, _ = cuda.compile_ptx_for_current_device(_combine_groups.py_func, tuple(typeof(a) for a in args))
    assert "mul.rn.f64" in ptx and "fma.rn.f64" not in ptx
