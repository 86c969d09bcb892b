"""Suite-wide collection rules."""
import os

# tests/cuda runs the GPU backend's kernels, under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, which
# Numba reads when it is imported: `make test` runs that folder as its own pytest invocation) or on a real
# GPU (RERAM_DSE_TEST_GPU=1). Without either there is nothing to run them on.
collect_ignore = [] if (os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
                        or os.environ.get("RERAM_DSE_TEST_GPU") == "1") else ["cuda"]
