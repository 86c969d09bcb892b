"""The backend setting without a GPU: validated like any field, and `cuda` refused in one line where it
cannot run. (The cuda kernels themselves are checked in tests/cuda, under the CUDA simulator.)"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dse.config import AnalogEffects, FaultScenario, HardwareConfig
from dse.simulate import check_backend_runs
from dse.study import parse_study
from kernels import crossbar_mvm
from kernels.cuda import cuda_unavailable, require_cuda

ROOT = Path(__file__).resolve().parents[1]


def test_backend_field_names_its_choices():
    assert HardwareConfig().backend == "cpu"
    with pytest.raises(ValueError, match="backend must be one of cpu, cuda; got 'gpu'"):
        HardwareConfig(backend="gpu")
    with pytest.raises(ValueError, match="backend must be one of cpu, cuda"):
        crossbar_mvm([[1]], [[1]], backend="GPU")


def test_cli_without_a_gpu_exits_2_with_one_line_naming_gpu_and_extra():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # no device, even on a machine that has one
    done = subprocess.run([sys.executable, "-m", "dse.cli", "eval", "--workload", "mlp-digits", "--backend", "cuda"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and done.stdout == ""
    assert lines[0].startswith("dse eval: error: backend 'cuda' needs an NVIDIA GPU")
    assert "reram-dse[cuda]" in lines[0] and ("no CUDA GPU" in lines[0] or "CUDA target is missing" in lines[0])


def test_missing_cuda_target_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba.cuda", None)  # as if numba had no CUDA target and no numba-cuda
    cuda_unavailable.cache_clear()
    try:
        with pytest.raises(ValueError) as err:
            require_cuda()
    finally:
        cuda_unavailable.cache_clear()
    message = str(err.value)
    assert "\n" not in message and "numba's CUDA target is missing" in message
    assert "NVIDIA GPU" in message and "pip install 'reram-dse[cuda]'" in message


def test_the_float_path_stays_on_the_cpu():
    cuda = HardwareConfig(backend="cuda")
    check_backend_runs(HardwareConfig(), FaultScenario(stuck_level_spread=0.1), AnalogEffects(variation=0.05))
    with pytest.raises(ValueError, match="backend must be cpu with analog effects"):
        check_backend_runs(cuda, FaultScenario(), AnalogEffects(variation=0.05))
    with pytest.raises(ValueError, match="stuck_level_spread must be 0 with backend 'cuda'"):
        check_backend_runs(cuda, FaultScenario(stuck_level_spread=0.1), AnalogEffects())


def test_study_files_fix_the_backend_but_never_search_it():
    base = {"study": {"workload": "mlp-digits"}, "search": {"adc_bits": [4, 8]}}
    on_gpu = parse_study({**base, "hardware": {"backend": "cuda"}})
    assert on_gpu.hardware["backend"] == "cuda"
    assert on_gpu.owner() == parse_study(base).owner()  # a study may resume on the other backend
    with pytest.raises(ValueError, match="search.backend: not a searchable parameter"):
        parse_study({**base, "search": {"backend": ["cpu", "cuda"]}})
    with pytest.raises(ValueError, match="hardware.backend: backend must be one of cpu, cuda"):
        parse_study({**base, "hardware": {"backend": "gpu"}})


def test_bench_eval_repeats_the_test_split_to_the_samples_asked():
    from dse.experiments.bench import bench_eval

    result = bench_eval("mlp-digits", HardwareConfig(), repeats=1, samples=7)
    assert result["test_samples"] == 7 and result["backend"] == "cpu" and result["chip_s"] > 0
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        bench_eval("mlp-digits", samples=0)
