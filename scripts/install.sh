#!/usr/bin/env bash
# Install mmblend and its pinned stack into the virtualenv $VENV (idempotent).
# Called by `make install` / `make test` / `make demo`.
#
# The exact versions come from $CONSTRAINTS (default
# requirements/constraints.txt; `make test-compat` passes
# requirements/constraints-compat.txt, the old torch 2.1 stack) through pip's
# -c; setup.py itself declares ranges:
#
#   1. create/reuse the venv                     (python3 -m venv)
#   2. torch (2.13.0, CPU wheel; never a bare `torch`, which would pull a
#      multi-GB CUDA build; the compat stack's 2.1.2 is PyPI's CUDA build,
#      which runs on CPU)
#   3. mmcv (2.1.0) built from source with ops, ONLY if `import mmcv.ops`
#      fails. The build needs setuptools<70 and --no-build-isolation (it
#      compiles against the installed torch); pip caches the built wheel in
#      ~/.cache/pip/wheels, so later venvs reuse it in seconds. Its
#      dependencies (numpy, OpenCV, ...) obey the constraints too.
#   4. setuptools back to the constraints' range (torch 2.13 wants >=77.0.3)
#   5. mmblend itself (editable, extras `lvis`, `pretrained`: the offline
#      ImageNet weights of EfficientNet-Lite0, and `tools`: what mmdet's
#      analysis tools import) + test requirements
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
PY="$VENV/bin/python"
CONSTRAINTS=${CONSTRAINTS:-requirements/constraints.txt}
pin() {  # the `name==version` line of $1 in the constraints file
    grep -E "^$1==" "$CONSTRAINTS" || { echo "[install] ERROR: no $1== pin in $CONSTRAINTS" >&2; exit 1; }
}
TORCH_PIN=$(pin torch); TORCH_VERSION=${TORCH_PIN#torch==}
MMCV_PIN=$(pin mmcv); MMCV_VERSION=${MMCV_PIN#mmcv==}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { echo "[install] $*"; }

# Quiet pip that still shows errors; drops only the "Location 'file:...' is
# ignored" notices this machine's pip config prints for every package.
pipq() {
    "$PY" -m pip install -q "$@" 2>&1 |
        { grep -v "^WARNING: Location 'file:.*is ignored" || true; }
}

if [ ! -x "$PY" ]; then
    say "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi

if ! "$PY" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" >/dev/null 2>&1; then
    say "installing $TORCH_PIN"
    pipq -c "$CONSTRAINTS" "$TORCH_PIN"
fi

mmcv_ok() {
    "$PY" -c "import sys, mmcv, mmcv.ops; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" >/dev/null 2>&1
}

if ! mmcv_ok; then
    say "installing $MMCV_PIN with ops (first time: compiled from source, ~10 min on 2 cores; later: pip's wheel cache)"
    say "(pip may report that torch needs setuptools>=77.0.3 while mmcv builds with setuptools<70: expected, it is restored right after)"
    pipq -r requirements/build.txt
    # mmcv's dependencies (numpy, opencv-python, ...) within the constraints,
    # all but setuptools (the build's own <70 pin stands until step 4).
    MMCV_CONSTRAINTS=$(mktemp)
    trap 'rm -f "$MMCV_CONSTRAINTS"' EXIT
    grep -v '^setuptools' "$CONSTRAINTS" > "$MMCV_CONSTRAINTS"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} pipq --no-build-isolation \
        -c "$MMCV_CONSTRAINTS" "$MMCV_PIN"
    if ! mmcv_ok; then
        # An mmcv without working ops was installed or cached (e.g. built
        # against another torch): rebuild it, bypassing pip's cache.
        say "mmcv.ops still not importable: rebuilding $MMCV_PIN from source"
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} pipq --no-build-isolation \
            --no-cache-dir --force-reinstall --no-deps "$MMCV_PIN"
        if ! mmcv_ok; then
            "$PY" -c "import mmcv.ops" || true
            say "ERROR: $MMCV_PIN with ops is not importable"
            exit 1
        fi
    fi
fi

# Runtime setuptools pin (restores it after the mmcv build step).
pipq "$(grep -E '^setuptools' "$CONSTRAINTS")"

say "installing mmblend (editable) and test requirements"
pipq --no-build-isolation --use-pep517 -c "$CONSTRAINTS" -e '.[lvis,pretrained,tools]' \
    -r requirements/tests.txt

"$PY" - <<'EOF'
import warnings
warnings.simplefilter('ignore')
import platform
import mmcv, mmcv.ops, mmdet, mmengine, numpy, setuptools, torch  # noqa: E401,F401
print(f'[install] ok: Python {platform.python_version()}, '
      f'torch {torch.__version__}, mmcv {mmcv.__version__} '
      f'(ops), mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
      f'numpy {numpy.__version__}, setuptools {setuptools.__version__}')
EOF
