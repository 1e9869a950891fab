#!/usr/bin/env bash
# `make test-matrix`: run the numeric tests (arguments: test paths) once per
# CPU setting another machine could have, so that a test comparing numbers
# that holds only on this CPU fails here:
#   ATEN_CPU_CAPABILITY=default   torch's kernels without SIMD
#   ATEN_CPU_CAPABILITY=avx2 + ONEDNN_MAX_CPU_ISA=AVX2   an AVX2-only CPU
#   ATEN_CPU_CAPABILITY=avx512    (only where this CPU has AVX-512)
#   OMP_NUM_THREADS=1, =2         thread counts (reductions in other orders)
# Prints one line per setting and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
[ "$#" -gt 0 ] || { echo "usage: $0 TEST_PATH..." >&2; exit 2; }
settings=("ATEN_CPU_CAPABILITY=default"
          "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2")
grep -q avx512f /proc/cpuinfo && settings+=("ATEN_CPU_CAPABILITY=avx512")
settings+=("OMP_NUM_THREADS=1" "OMP_NUM_THREADS=2")
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
