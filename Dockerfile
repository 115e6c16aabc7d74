# syntax=docker/dockerfile:1
# unir-serve images (docs/docker.md):
#   docker build --target gpu -t unir-serve:gpu .    CUDA 12 + cuDNN 9 runtime, Node 22, the CUDA provider of ONNX Runtime
#   docker build --target cpu -t unir-serve:cpu .    Node 22 slim, CPU provider only
#   docker run --gpus all -p 8000:8000 unir-serve:gpu
# Both serve the demo models (demo-models/base and demo-models/reasoners/*) on 0.0.0.0:8000 as a non-root user,
# and the playground page at / (its scripts are built into dist/ui, its HTML and CSS come from ui/public).

# ---- build: TypeScript -> dist/ (the .npmrc skips ONNX Runtime's CUDA download; the build needs none)
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- production dependencies, CPU only
FROM node:22-bookworm-slim AS deps-cpu
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v6/darwin node_modules/onnxruntime-node/bin/napi-v6/win32 \
 && npm cache clean --force

# ---- production dependencies with the CUDA 12 provider (the install script fetches it; the variable wins over .npmrc)
FROM node:22-bookworm-slim AS deps-gpu
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci --omit=dev --no-audit --no-fund \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v6/darwin node_modules/onnxruntime-node/bin/napi-v6/win32 \
 && npm cache clean --force

# ---- gpu: CUDA 12 + cuDNN 9 runtime, Node 22; the Vulkan loader too, so --ep webgpu and --ep auto work
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS gpu
COPY --from=build /usr/local/bin/node /usr/local/bin/node
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 unir
# graphics: the NVIDIA container toolkit then mounts the driver's Vulkan ICD, which WebGPU needs.
ENV NODE_ENV=production NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
WORKDIR /app
COPY --from=deps-gpu /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY models/graphs ./models/graphs
COPY ui/public ./ui/public
COPY demo-models ./demo-models
USER unir
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server/cli.js", "--model", "demo-models/base", "--served-model-name", "unir-demo", "--reasoners-dir", "demo-models/reasoners", "--host", "0.0.0.0", "--ep", "cuda"]

# ---- cpu: the default target (last stage)
FROM node:22-bookworm-slim AS cpu
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY models/graphs ./models/graphs
COPY ui/public ./ui/public
COPY demo-models ./demo-models
USER node
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server/cli.js", "--model", "demo-models/base", "--served-model-name", "unir-demo", "--reasoners-dir", "demo-models/reasoners", "--host", "0.0.0.0"]
