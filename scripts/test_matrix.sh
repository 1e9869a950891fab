#!/usr/bin/env bash
# `make test-matrix`: run the numeric tests (arguments: test paths) once per
# CPU setting another machine could have, so that a test comparing numbers
# that holds only on this CPU fails here:
#   ATEN_CPU_CAPABILITY=default   torch's kernels without SIMD
#   ATEN_CPU_CAPABILITY=avx2 + ONEDNN_MAX_CPU_ISA=AVX2   an AVX2-only CPU
#   ATEN_CPU_CAPABILITY=avx512    (only where this CPU has AVX-512)
#   OMP_NUM_THREADS=1, =2         thread counts (reductions in other orders)
# A setting that is this machine's own (torch's kernels, its thread count)
# is what `make test` runs already: it is skipped and said so.
# Prints one line per setting and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
[ "$#" -gt 0 ] || { echo "usage: $0 TEST_PATH..." >&2; exit 2; }
read -r own_isa own_threads < <("$PY" -c "import torch; print(
    torch.backends.cpu.get_cpu_capability().lower(), torch.get_num_threads())")
settings=("ATEN_CPU_CAPABILITY=default"
          "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2")
grep -q avx512f /proc/cpuinfo && settings+=("ATEN_CPU_CAPABILITY=avx512")
settings+=("OMP_NUM_THREADS=1" "OMP_NUM_THREADS=2")
failed=0
summary=()
for s in "${settings[@]}"; do
    if [ "$s" = "ATEN_CPU_CAPABILITY=$own_isa" ] || \
            [ "$s" = "OMP_NUM_THREADS=$own_threads" ]; then
        summary+=("$s: this machine's own setting, run by make test")
        continue
    fi
    echo "[test-matrix] $s"
    start=$(date +%s)
    env $s "$PY" -m pytest -q -p no:cacheprovider "$@"
    rc=$?
    [ "$rc" -eq 0 ] || failed=1
    summary+=("$s: exit $rc, $(( $(date +%s) - start )) s")
done
printf '[test-matrix] %s\n' "${summary[@]}"
exit $failed
