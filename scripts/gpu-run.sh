#!/usr/bin/env bash
# Runs bench/gpu on an NVIDIA GPU host, from the project root, with node from .device/ (docs/gpu.md):
#
#   bash .device/on-device.sh bash scripts/gpu-run.sh [bench options]   build the model, then the benchmark
#   bash scripts/gpu-run.sh --stage                                     keep .device/cuda/* in /tmp between calls
#
# 1. Builds the ~0.5B float16 model and its module with the host's PyTorch (training/make_gpu_model.py) into
#    $UNIR_GPU_MODELS (default /tmp/unir-gpu-models), unless they are there from an earlier call.
# 2. When every part of the CUDA provider is there (.device/cuda/ or staged in /tmp/unir-cuda-parts/, made by
#    scripts/fetch-cuda-provider.sh), joins and checks them and lays out /tmp/unir-cuda: dist/, models/graphs/,
#    package.json and node_modules/ with onnxruntime-node 1.29.0 + the CUDA provider; bench/gpu.js runs its cuda
#    process there (--cuda-root). Without the parts, cuda is reported as unavailable.
# 3. Runs node dist/bench/gpu.js; the table, the JSON and this log go to $OUT (default /tmp/unir-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/unir-out}
mkdir -p "$OUT"
STAGE=/tmp/unir-cuda-parts
CUDA_ROOT=/tmp/unir-cuda

if [ "${1:-}" = --stage ]; then
  mkdir -p "$STAGE"
  cp -v .device/cuda/* "$STAGE"/ 2>/dev/null || echo "no .device/cuda/ files in this call"
  ls -l "$STAGE"
  exit 0
fi

exec > >(tee -a "$OUT/gpu-run.log") 2>&1
started=$(date +%s)
# The device call's limit is 600 s: the benchmark is told how much of BUDGET_S is left after the build.
BUDGET_S=${BUDGET_S:-560}
echo "== gpu-run $(date -u +%FT%TZ) on $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
unxz_to() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,sys,shutil; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }

models=${UNIR_GPU_MODELS:-/tmp/unir-gpu-models}
if [ ! -f "$models/base/model.onnx" ] || [ ! -f "$models/reasoners/r1/model.onnx" ]; then
  echo "== building the benchmark models with $(python3 -c 'import torch; print("PyTorch", torch.__version__)')"
  PYTHONUNBUFFERED=1 python3 training/make_gpu_model.py --out "$models" || { echo "the model build failed"; exit 1; }
fi

setup_cuda() {
  local sums="" d f
  for d in .device/cuda "$STAGE"; do [ -f "$d/SHA256SUMS" ] && sums="$d/SHA256SUMS"; done
  [ -n "$sums" ] || { echo "cuda: no provider parts (.device/cuda or $STAGE): cuda will be reported unavailable"; return 1; }
  local join=/tmp/ort-cuda.tar.xz
  : > "$join"
  for f in $(awk '/part-/ {print $2}' "$sums" | sort); do
    local found=""
    for d in .device/cuda "$STAGE"; do [ -f "$d/$f" ] && found="$d/$f"; done
    [ -n "$found" ] || { echo "cuda: part $f is missing (carry it, then scripts/gpu-run.sh --stage)"; return 1; }
    cat "$found" >> "$join"
  done
  local want; want=$(awk '/ort-cuda.tar.xz$/ {print $1}' "$sums")
  [ "$(sha256sum "$join" | cut -d' ' -f1)" = "$want" ] || { echo "cuda: the joined archive does not match SHA256SUMS"; return 1; }
  rm -rf "$CUDA_ROOT"
  mkdir -p "$CUDA_ROOT/node_modules" "$CUDA_ROOT/models"
  cp -a node_modules/. "$CUDA_ROOT/node_modules/"
  rm -rf "$CUDA_ROOT/node_modules/onnxruntime-node" "$CUDA_ROOT/node_modules/onnxruntime-common"
  unxz_to "$join" | tar -C "$CUDA_ROOT/node_modules" -xf - || { echo "cuda: unpacking failed"; return 1; }
  cp -a dist package.json "$CUDA_ROOT/"
  cp -a models/graphs "$CUDA_ROOT/models/"
  ls -l "$CUDA_ROOT/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
  # The provider links libcublasLt.so.13 and friends: on-device.sh put the host's nvidia-* Python libraries on
  # LD_LIBRARY_PATH; say what the loader still misses.
  ldd "$CUDA_ROOT/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so" | grep 'not found' || echo "cuda: every library the provider links resolves"
  return 0
}

cuda_args=()
if setup_cuda; then cuda_args=(--cuda-root "$CUDA_ROOT"); fi

left=$((BUDGET_S - ($(date +%s) - started)))
echo "== bench ($left s left): node dist/bench/gpu.js --models $models --deadline-s $left ${cuda_args[*]} $*"
node dist/bench/gpu.js --models "$models" --json "$OUT/gpu-bench.json" --deadline-s "$left" "${cuda_args[@]}" "$@" | tee "$OUT/gpu-bench.txt"
echo "== done $(date -u +%FT%TZ)"
