#!/usr/bin/env bash
# babelshard's GPU check (docs/gpu.md), in the repository root:
#   benchmarks/gpu_check.sh [benchmarks/gpu_check.py flags]
# With .gpu-check/ (made by benchmarks/gpu_check_prepare.sh, carried to a device machine
# with no internet) it unpacks the carried packages, installs babelshard from this tree
# into /tmp/gpu-check-site and runs the check with the machine's python3 (torch with CUDA);
# without, or with $PYTHON set, it runs with $PYTHON (default .venv/bin/python) as it is. Figures go to
# $OUT/gpu_check.json and gpu_check.md (default out/gpu-check); GPU_CHECK_LIMIT_S (default
# 420) bounds the check, whose JSON keeps every section finished by then.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
if [ -f .gpu-check/site.tar.xz ] && [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  site=/tmp/gpu-check-site
  rm -rf "$site" && mkdir -p "$site"
  "$PYTHON" -m tarfile -e .gpu-check/site.tar.xz "$site"
  "$PYTHON" -m pip install -q --no-deps --no-index --no-build-isolation --no-compile --target "$site" .
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
elif [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  [ -x .venv/bin/python ] && PYTHON=.venv/bin/python
fi

find_lib() {  # the first file named $1 in the Python's import folders (nvidia/* wheels too) or the CUDA folders
  "$PYTHON" -c 'import glob, sys
name, roots = sys.argv[1], [p for p in sys.path if p] + ["/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu"]
print(next((f for r in roots for f in glob.glob(f"{r}/{name}") + glob.glob(f"{r}/nvidia/**/{name}", recursive=True)), ""))' "$1"
}

# CTranslate2's wheels are built for CUDA 12 and load libcublas.so.12 when they first use the
# GPU. Where only CUDA 13's cuBLAS is installed, the CUDA 12 names link to it: the cuBLAS calls
# CTranslate2 makes (create, set stream, GemmEx, strided-batched GEMMs) keep their signatures.
# The JSON names the link (environment.cublas_shim); float16_equality checks the outputs.
if command -v nvidia-smi >/dev/null; then
  cublas=$(find_lib libcublas.so.12)
  if [ -z "$cublas" ] && cublas=$(find_lib libcublas.so.13) && [ -n "$cublas" ]; then
    shim=/tmp/gpu-check-cublas
    mkdir -p "$shim"
    ln -sf "$cublas" "$shim/libcublas.so.12"
    export LD_LIBRARY_PATH="$shim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export GPU_CHECK_CUBLAS_SHIM="libcublas.so.12 -> $cublas"
  fi
  [ -n "$cublas" ] && export LD_LIBRARY_PATH="$(dirname "$cublas")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

data=()
[ -d .gpu-check/data/caption ] && data=(--data .gpu-check/data)
exec timeout -k 15 "${GPU_CHECK_LIMIT_S:-420}" "$PYTHON" benchmarks/gpu_check.py "${data[@]}" "$@"
