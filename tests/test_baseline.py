"""The numpy benchmark baseline (kernels/baseline.py) computes the crossbar model bit for bit."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kernels import apply_faults, crossbar_mvm_reference, n_arrays, n_slices, plain_bitlines, sample_faults, slice_levels
from kernels.baseline import EXACT_F32, baseline_levels, bitplane_matmul_mvm, level_dtype
from test_kernels import SETTINGS, configs


def _baseline(x, w, cfg, faults):
    levels = apply_faults(slice_levels(w, cfg["cell_bits"], cfg["weight_bits"], cfg["mapping"]), faults,
                          cfg["cell_bits"])
    bitlines, groups = plain_bitlines(levels, cfg["cell_bits"], cfg["mapping"])
    y = bitplane_matmul_mvm(
        x, baseline_levels(bitlines, cfg["rows"], cfg["cell_bits"], cfg["dac_bits"]), groups, w.shape[1],
        rows=cfg["rows"], cell_bits=cfg["cell_bits"], input_bits=cfg["input_bits"], dac_bits=cfg["dac_bits"],
        adc_bits=cfg["adc_bits"], signed_inputs=cfg["signed_inputs"])
    if cfg["mapping"] == "offset":  # as kernels.mvm_int corrects it
        y -= float(1 << (cfg["weight_bits"] - 1)) * x.sum(axis=1, keepdims=True)
    return y


@SETTINGS
@given(configs(), st.floats(0, 0.3), st.floats(0, 0.3))
def test_baseline_equals_reference(case, p0, p1):
    # Random configurations: partial tiles, 1-4 bit cells, both mappings, signed inputs, multi-bit DACs,
    # lossless (step 1, no rounding pass) and saturating ADCs, faults.
    x, w, cfg, rng = case
    shape = (n_arrays(cfg["mapping"]), n_slices(cfg["weight_bits"], cfg["cell_bits"], cfg["mapping"])) + w.shape
    faults = sample_faults(shape, p0, p1, rng)
    np.testing.assert_array_equal(_baseline(x, w, cfg, faults), crossbar_mvm_reference(x, w, faults=faults, **cfg))


def test_baseline_goes_to_float64_where_float32_would_round():
    # 8-bit cells behind 8-bit DACs on 1024 rows: column sums reach 1024 * 255 * 255 > 2**24.
    assert level_dtype(1024, 8, 8) is np.float64 and level_dtype(128, 2, 1) is np.float32
    rng = np.random.default_rng(3)
    cfg = dict(rows=1024, cols=128, cell_bits=8, weight_bits=9, input_bits=8, dac_bits=8, adc_bits=26,
               mapping="differential", signed_inputs=False)
    x = rng.integers(200, 256, (3, 1500))
    w = rng.integers(200, 256, (1500, 4))
    faults = np.zeros((2, 1, 1500, 4), dtype=np.uint8)
    expected = crossbar_mvm_reference(x, w, faults=faults, **cfg)
    assert np.abs(expected).max() > EXACT_F32
    np.testing.assert_array_equal(_baseline(x, w, cfg, faults), expected)
    np.testing.assert_array_equal(expected, x @ w)  # lossless: the float32 version would have rounded
