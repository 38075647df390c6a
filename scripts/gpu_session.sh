#!/usr/bin/env bash
# The one prepared call for a session that is lent a GPU (issue #14). Device time is scarce
# (about 15 minutes a session, the machine's start included), so everything a GPU must check
# runs here, in one command, inside a call's 10-minute limit (300 s + 270 s at most):
#
#   1. the card and the versions (torch, triton, numpy) -> $OUT/env.txt
#   2. scripts/bench_gpu.py: bmm against the Triton kernel at the accuracy benchmark's
#      settings, and a 256 x 256 layer pair per warp count -> $OUT/bench_gpu.md
#      (rows are printed as they are measured, so a timeout keeps the ones before it)
#   3. the tests that only a GPU runs for real: the Triton kernel compiled (not interpreted)
#      against the CPU loop, CUDA against CPU values, torch.compile's fused step -> $OUT/tests.txt
#
# It needs nothing beyond the device image's Python (torch, triton, numpy, scipy, numba, typer,
# pytest): nifgraph is taken from the checkout through PYTHONPATH, not installed.
#
#   bash scripts/gpu_session.sh            # on the GPU machine, from the repository root
#   bash scripts/gpu_session.sh --quick    # a rehearsal on any machine: tiny sizes, no GPU
#
# Paste the tables into docs/estimators.md ("GPU") with the card's name.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-gpu-session-out}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
quick=()
tests=(tests/test_mi_triton.py tests/test_mi_parallel.py)
if [ "${1:-}" = "--quick" ]; then
    quick=(--quick)
    tests=(tests/test_mi_parallel.py)  # the interpreted kernel's tests run in the suite already
fi
rc=0
{
    date -u
    nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
    "$py" -c "import sys, numpy, torch, triton; print(sys.version.split()[0], 'numpy', numpy.__version__, 'torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"
    # Triton (and torch.compile) build a small C helper at first use: a compiler and Python.h
    echo "C compiler: $(command -v cc gcc clang | head -1 || true)"
    "$py" -c "import os, sysconfig; h = os.path.join(sysconfig.get_paths()['include'], 'Python.h'); print('Python.h:', h if os.path.exists(h) else 'MISSING')"
} 2>&1 | tee "$out/env.txt"
echo "== bench_gpu.py"
timeout 300 "$py" scripts/bench_gpu.py "${quick[@]}" 2>&1 | tee "$out/bench_gpu.md"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
echo "== tests: ${tests[*]}"
timeout 270 "$py" -m pytest -q -p no:cacheprovider "${tests[@]}" 2>&1 | tee "$out/tests.txt"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
echo "gpu_session: rc=$rc (logs in $out)"
exit $rc
