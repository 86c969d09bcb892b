"""Which CPU class the kernels are compiled for, what the benchmarks report, and the AVX2 class's bits."""
import json
import os
import subprocess
import sys

import numba
import pytest

from kernels.cpu import POPCOUNT_PATHS, cpu_model, cpu_report, popcount_path, target_features


@pytest.mark.parametrize("flags, path", [
    ({"avx2", "avx512f", "avx512vpopcntdq", "popcnt"}, "avx512-vpopcntdq"),
    ({"avx2", "avx512f", "popcnt"}, "avx2-nibble-table"),  # AVX-512 without VPOPCNTDQ (Skylake-X)
    ({"avx2", "popcnt"}, "avx2-nibble-table"),
    ({"popcnt", "sse4.2"}, "scalar-popcnt"),
    (set(), "generic"),
])
def test_popcount_path_follows_the_compiled_features(flags, path):
    assert popcount_path(flags) == path


def test_target_features_follow_numbas_overrides(monkeypatch):
    monkeypatch.setattr(numba.config, "CPU_NAME", "haswell")
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx,+avx2,-avx512f,+popcnt")
    assert target_features() == ("haswell", {"avx", "avx2", "popcnt"})
    assert cpu_report()["path"] == "avx2-nibble-table"


def test_cpu_model_reads_proc_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t: fpu\n")
    assert cpu_model(info) == "Example CPU 9000"
    assert cpu_model(tmp_path / "missing") == ""


def test_bench_kernels_json_is_one_object_with_speedup_agreement_and_the_cpu_class():
    out = subprocess.run([sys.executable, "-m", "dse.cli", "bench", "kernels", "--json", "--no-scaling",
                          "--repeats", "1", "--size", "96", "--batch", "8"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["agree"] is True and result["speedup"] > 0 and result["popcount_speedup"] > 0
    assert result["path"] in POPCOUNT_PATHS and isinstance(result["cpu_features"], list)
    # The default 8-bit ADC on 128 rows of 2-bit cells has step 2 and cannot clip: the simulator takes the
    # exact product plus the rounding there, and the benchmark times that path beside the popcount kernel.
    assert result["simulator_path"] == "exact-float32+rounding"


def test_bench_times_the_popcount_kernel_as_the_simulators_path_where_no_exact_form_exists(monkeypatch):
    from dse.config import HardwareConfig
    from dse.experiments import bench

    monkeypatch.setattr(bench, "PAUSE_S", 0.0)
    row = bench.bench_kernel_point(bench.KernelPoint(8, 96, 96), HardwareConfig(adc_bits=6), repeats=1)
    assert row["simulator_path"] == "popcount" and row["agree"] is True  # step 8: no exact form
    assert row["simulator_s"] == row["kernel_s"] and row["speedup"] == row["popcount_speedup"]


def test_bench_eval_reports_real_macs_the_exact_layers_and_memory(monkeypatch):
    from dse.config import HardwareConfig
    from dse.experiments import bench

    monkeypatch.setattr(bench, "PAUSE_S", 0.0)
    real = 360 * (64 * 256 + 256 * 128 + 128 * 10)  # the whole test split through mlp-digits' three layers
    lossless = bench.bench_eval("mlp-digits", HardwareConfig(adc_bits=9), repeats=1)
    assert lossless["examples"] == 360 and lossless["real_macs"] == real
    assert lossless["real_macs_per_s"] == pytest.approx(real / lossless["chip_s"])
    assert lossless["exact_layers"] == lossless["layers"] == 3 and lossless["peak_rss_mb"] > 0
    assert lossless["clipped_pairs"] == 0 and sum(lossless["paths"].values()) == 3
    # A 7-bit clipping ADC: 7 % of the faulty chip's (tile, bit line) pairs can clip, counted by popcount.
    clip = bench.bench_eval("mlp-digits", HardwareConfig(adc_bits=7, adc_range="clip"), repeats=1)
    assert clip["exact_layers"] == 3 and clip["clipped_layers"] >= 1 and clip["clipped_pairs"] > 0
    assert any(path.endswith("+clipped") for path in clip["paths"])


AVX2 = dict(NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES="+avx,+avx2,+fma,+bmi2,+popcnt,+sse4.2")


@pytest.mark.slow
def test_kernels_compiled_for_the_avx2_class_equal_the_reference():
    # The AVX2-only class (no VPOPCNTDQ: LLVM's nibble-table popcount) compiled and run on this machine.
    code = """
import numpy as np
from kernels import crossbar_mvm, crossbar_mvm_reference, sample_faults
from kernels.cpu import cpu_report
assert cpu_report()["path"] == "avx2-nibble-table", cpu_report()
rng = np.random.default_rng(0)
for rows, cell_bits, adc_bits, signed in [(128, 2, 8, False), (64, 3, 6, True), (100, 1, 9, False)]:
    x = rng.integers(-128, 128, (5, 300)) if signed else rng.integers(0, 256, (5, 300))
    w = rng.integers(-127, 128, (300, 9))
    s = -(-7 // cell_bits)
    faults = sample_faults((2, s, 300, 9), 0.02, 0.09, rng)
    kw = dict(rows=rows, cell_bits=cell_bits, adc_bits=adc_bits, signed_inputs=signed, faults=faults)
    assert np.array_equal(crossbar_mvm(x, w, **kw), crossbar_mvm_reference(x, w, **kw))
print("ok")
"""
    env = dict(os.environ, **AVX2)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def _read_in_worker(handle):
    import numpy as np

    from dse.simulate.sharing import attach

    arrays = attach(handle)
    return [(a.flags.writeable, a.ctypes.data % 64, float(np.asarray(a, dtype=np.float64).sum())) for a in arrays]


def test_shared_object_is_one_copy_the_workers_read_in_place():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

    from dse.simulate.sharing import SharedObject

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(300, 200)), rng.integers(0, 4, (1000, 77)).astype(np.uint8), np.arange(5)]
    with SharedObject(arrays) as shared:
        assert len(shared.handle.payload) < 2000  # the data is in the block, not in the pickle
        assert shared.shared_bytes >= sum(a.nbytes for a in arrays)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            seen = list(pool.map(_read_in_worker, [shared.handle] * 2))
    expected = [(False, 0, float(a.astype(np.float64).sum())) for a in arrays]
    assert seen == [expected, expected]  # read-only, aligned, the same values
