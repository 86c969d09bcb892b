#!/usr/bin/env bash
# The cuda backend's checks and speed figures, in one run, on a machine with an NVIDIA GPU and its driver
# (docs/gpu.md). Writes everything under the folder given (default results/gpu/) and stops at the first
# failure: the kernels must equal the CPU backend bit for bit before any speed is worth reading.
#   scripts/gpu-bench.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/gpu}
mkdir -p "$out"
make .venv/bin/.installed
# numba-cuda and the CUDA 12 toolkit wheels, unless already there (a machine without network needs them
# installed beforehand: `pip install -e '.[cuda]'`).
.venv/bin/python -c "import numba_cuda" 2>/dev/null || .venv/bin/python -m pip install -q -e '.[cuda]'
nvidia-smi > "$out/nvidia-smi.txt"
# 1. Correctness on the device: the simulator's tests, now on the GPU (and the PTX has no fused multiply-add).
RERAM_DSE_TEST_GPU=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/cuda 2>&1 | tee "$out/tests.txt"
# 2. Kernel: standard point (batch 256), batch 4096 and 16384, against the CPU kernel on 2 threads and all.
.venv/bin/dse bench kernels --backend cuda --json > "$out/kernels-cuda.json"
# 3. A MiniLM chip: 1,000 sentences (the test split repeated) on the GPU, and the CPU backend beside it.
.venv/bin/dse bench eval --workload minilm-l6 --backend cuda --samples 1000 --json > "$out/minilm-cuda.json"
.venv/bin/dse bench eval --workload minilm-l6 --samples 1000 --json > "$out/minilm-cpu.json"
.venv/bin/python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
k = json.loads((out / "kernels-cuda.json").read_text())
print(f"{k['device']}, {k['cuda_target']} CUDA target; kernels agree with the CPU bit for bit: {k['agree']}")
for p in k["points"]:
    print(f"  batch {p['batch']:5d}: cuda {p['cuda_macs_per_s']:.3e} MAC/s, {p['speedup_vs_cpu']:.1f}x the CPU kernel on "
          f"{k['cpu_threads']} threads, {p['speedup_vs_cpu_all_threads']:.1f}x on {k['all_threads']}")
for name in ("minilm-cuda", "minilm-cpu"):
    r = json.loads((out / f"{name}.json").read_text())
    print(f"  {name}: {r['test_samples']} sentences, chip {r['chip_s']:.2f} s (best of {r['chip_runs']}), "
          f"{r['kernel_share_of_chip']:.0%} in the crossbar kernels, one-chip score {r['accuracy_one_chip']:.3f}")
PY
