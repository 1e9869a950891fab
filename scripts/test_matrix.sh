#!/usr/bin/env bash
# `make test-matrix`: run the numeric tests (arguments: test paths) as on
# the machines CI and users may have and this one is not, so that a test
# comparing numbers that holds only on this CPU fails here:
#   ATEN_CPU_CAPABILITY=default            torch's kernels without SIMD, at
#                                          this machine's thread count (2
#                                          threads where it has 1)
#   ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1
#                                          an AVX2-only CPU (torch's and
#                                          oneDNN's kernels), one thread
# `make test` itself is the third: this CPU's best kernels (AVX-512 where it
# has them) at one thread per xdist worker. Between them every kernel level and both 1
# and 2 threads are run (reductions in other orders).
# Prints one line per setting and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
[ "$#" -gt 0 ] || { echo "usage: $0 TEST_PATH..." >&2; exit 2; }
threads=$("$PY" -c "import torch; print(torch.get_num_threads())")
first="ATEN_CPU_CAPABILITY=default"
[ "$threads" -gt 1 ] || first="$first OMP_NUM_THREADS=2"
settings=("$first"
          "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1")
failed=0
summary=()
for s in "${settings[@]}"; do
    echo "[test-matrix] $s"
    start=$(date +%s)
    env $s "$PY" -m pytest -q -p no:cacheprovider "$@"
    rc=$?
    [ "$rc" -eq 0 ] || failed=1
    summary+=("$s: exit $rc, $(( $(date +%s) - start )) s")
done
printf '[test-matrix] %s\n' "${summary[@]}"
exit $failed
