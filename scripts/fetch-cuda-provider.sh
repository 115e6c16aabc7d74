#!/usr/bin/env bash
# Fetches, HERE (where npm reaches its registry), what the CUDA execution provider needs on a GPU host that has
# no Node.js and no registry, and packs it in parts under 60 MB in .device/cuda/ (git ignores .device/).
#
#   scripts/fetch-cuda-provider.sh          (about 4 minutes: a 180 MB download, then xz over 275 MB)
#
# What goes in (an onnxruntime-node tree for node_modules/, used by bench/gpu.js --cuda-root):
#   onnxruntime-node@1.29.0     its JS, its linux-x64 binding and its libonnxruntime.so.1 (1.29.0, built with the
#                               CUDA provider interface)
#   onnxruntime-common@1.29.0   the JS that binding's package requires
#   com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
#                               libonnxruntime_providers_cuda.so + libonnxruntime_providers_shared.so: ORT 1.29.0
#                               built for CUDA 13 (it links libcublasLt.so.13), what the hosts' drivers and Python
#                               packages carry; placed beside the binding, where the core library looks for them
# Not used: com.github.asus4.onnxruntime@0.4.9's libonnxruntime.so. It is a CPU-only core ("CUDA execution
# provider is not enabled in this build" when a session asks for cuda; seen here with the 1.29.0 binding).
# onnxruntime-node@1.30.0 is not paired with the 1.29.0 provider: the core and its providers come from one version.
#
# Output: .device/cuda/ort-cuda.tar.xz.part-NN (each < PART_MB, default 50 MB, so one part and the working tree
# fit one device call's 64 MiB) and SHA256SUMS (the parts and the whole archive). scripts/gpu-run.sh --stage
# keeps a part on the host between calls; scripts/gpu-run.sh joins and checks them and unpacks the tree.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
NODE_ORT=1.29.0
ASUS=0.4.9
PART_MB=${PART_MB:-50}
out=.device/cuda
mkdir -p .device
grep -qxF '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching onnxruntime-node@$NODE_ORT, onnxruntime-common@$NODE_ORT, com.github.asus4.onnxruntime.linux-x64-gpu@$ASUS"
(cd "$tmp" && npm pack --silent "onnxruntime-node@$NODE_ORT" "onnxruntime-common@$NODE_ORT" \
  "com.github.asus4.onnxruntime.linux-x64-gpu@$ASUS" >/dev/null)

tree=$tmp/tree
mkdir -p "$tree/onnxruntime-node" "$tree/onnxruntime-common"
tar -xzf "$tmp/onnxruntime-node-$NODE_ORT.tgz" -C "$tree/onnxruntime-node" --strip-components=1
tar -xzf "$tmp/onnxruntime-common-$NODE_ORT.tgz" -C "$tree/onnxruntime-common" --strip-components=1
bin=$tree/onnxruntime-node/bin/napi-v6
rm -rf "$bin/darwin" "$bin/win32" "$bin/linux/arm64"
plugins=package/Plugins/Linux/x64
tar -xzf "$tmp/com.github.asus4.onnxruntime.linux-x64-gpu-$ASUS.tgz" -C "$tmp" \
  "$plugins/libonnxruntime_providers_cuda.so" "$plugins/libonnxruntime_providers_shared.so"
cp "$tmp/$plugins/libonnxruntime_providers_cuda.so" "$tmp/$plugins/libonnxruntime_providers_shared.so" "$bin/linux/x64/"
ls -l "$bin/linux/x64"

echo "compressing (xz -9)"
tar -C "$tree" -cf - onnxruntime-node onnxruntime-common | xz -T2 -9 > "$tmp/ort-cuda.tar.xz"
rm -rf "$out"
mkdir -p "$out"
split -b "${PART_MB}M" -d -a 2 "$tmp/ort-cuda.tar.xz" "$out/ort-cuda.tar.xz.part-"
(cd "$out" && sha256sum ort-cuda.tar.xz.part-* > SHA256SUMS)
(cd "$tmp" && sha256sum ort-cuda.tar.xz) >> "$out/SHA256SUMS"
ls -l "$out"
echo "parts: $(ls "$out"/ort-cuda.tar.xz.part-* | wc -l); carry each in its own device call (docs/gpu.md)"
