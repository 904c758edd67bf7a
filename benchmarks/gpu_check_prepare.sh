#!/usr/bin/env bash
# Makes .gpu-check/ (git-ignored) for benchmarks/gpu_check.sh on a device machine with no
# internet, here, in the repository root:
#   site.tar.xz  the packages of benchmarks/gpu_check_wheels.txt for its Python (3.12,
#                x86-64), debug info stripped (CTranslate2's binding alone carries 67 MB of it)
#   data/        the toy OpenMoji shards the trainer figures read
# About 30 MB; xz takes a few minutes on two cores. Then carry .gpu-check (docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
TARGET_PYTHON=${TARGET_PYTHON:-3.12}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rm -rf .gpu-check && mkdir -p .gpu-check
target=(--only-binary=:all: --python-version "$TARGET_PYTHON" --implementation cp)
for platform in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
  target+=(--platform "$platform")
done
"$PYTHON" -m pip download -q --no-deps "${target[@]}" -d "$stage/wheels" -r benchmarks/gpu_check_wheels.txt
"$PYTHON" -m pip install -q --no-deps --no-index --no-compile "${target[@]}" --target "$stage/site" "$stage"/wheels/*.whl
find "$stage/site" -name '*.so*' -type f -exec strip --strip-debug {} +
tar -cf - -C "$stage/site" . | xz -T0 -6 >.gpu-check/site.tar.xz
NO_ALBUMENTATIONS_UPDATE=1 "$PYTHON" -c 'from babelshard.pipelines.demo.toydata import build_toy_data
build_toy_data(".gpu-check/data", train=320, heldout=16, size=32)'
du -sh .gpu-check
