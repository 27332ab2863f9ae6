#!/usr/bin/env bash
# Runs the whole benchmark on a machine with a real GPU and writes JSON,
# Markdown and SVG charts into the folder given as argument. Needs no network.
#
#   bash bench/gpu.sh OUT_DIR [--large] [--budget SECONDS] [--allow-software] [-- extra bench options]
#   bash bench/gpu.sh --prepare [--with-node]      (on a development machine, before carrying the repo over)
#
# What the GPU machine needs (checked below, with a message saying what is missing):
#   - Linux x86-64 with the GPU vendor's Vulkan driver: libvulkan.so.1 plus an ICD
#     (NVIDIA: nvidia_icd.json from the driver package). Dawn (npm "webgpu") drives the GPU through Vulkan.
#   - Node >= 20: `node` on PATH, or $WGC_NODE, or dist/node.xz made by `--prepare --with-node`
#     (this machine's Node binary, xz-compressed; unpacked with xz or python3).
#   - The built engine (dist/) and its four runtime packages (webgpu's linux-x64 Dawn binary,
#     wgsl_reflect, yaml, @huggingface/tokenizers): either the full node_modules/, or the slim copy
#     `--prepare` writes to dist/gpu-runtime/node_modules (~26 MB; linked to ./node_modules here when
#     that is missing). `--prepare` leaves everything under dist/, so carrying `dist` alone (about
#     30 MB, 55 MB with Node) is enough.
#   - Disk for the synthetic models: 2.5 GB (1B, BF16), 19 GB more with --large; $WGC_BENCH_MODELS
#     chooses where (default: the system temp folder).
#
# The bench runs in full mode under a time budget (default 420 s, so with start-up and model
# generation the script ends within 8 minutes): what does not fit is listed as skipped in the reports.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() { echo "gpu.sh: error: $*" >&2; exit 1; }
say() { echo "gpu.sh: $*"; }

usage() {
  sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------- prepare
if [[ "${1:-}" == "--prepare" ]]; then
  shift
  WITH_NODE=0
  [[ "${1:-}" == "--with-node" ]] && WITH_NODE=1
  [[ -d node_modules/webgpu ]] || die "node_modules is missing: run npm ci first (this step needs the full install)"
  say "building dist/"
  node scripts/bundle-shaders.mjs
  # Files of packages other people are still writing may not typecheck; tsc still emits.
  node node_modules/typescript/bin/tsc -p tsconfig.json || say "tsc reported errors (see above); dist/ was written anyway"
  [[ -f dist/bench/run.js ]] || die "dist/bench/run.js was not built"
  # Kept out of dist/'s own module resolution path, so this machine keeps using node_modules/.
  RT=dist/gpu-runtime/node_modules
  say "copying the runtime packages to $RT"
  rm -rf dist/gpu-runtime
  mkdir -p $RT/webgpu/dist $RT/@huggingface
  cp node_modules/webgpu/{index.js,package.json,types.d.ts,LICENSE.md} $RT/webgpu/
  cp -r node_modules/webgpu/dist/linux-x64 $RT/webgpu/dist/
  cp -r node_modules/wgsl_reflect node_modules/yaml $RT/
  cp -r node_modules/@huggingface/tokenizers $RT/@huggingface/
  if ((WITH_NODE)); then
    say "compressing $(command -v node) to dist/node.xz (a few minutes)"
    xz -T0 -6 -c "$(command -v node)" > dist/node.xz.tmp && mv dist/node.xz.tmp dist/node.xz
  fi
  say "done: $(du -sh dist | cut -f1) in dist/ — carry \`dist\` to the GPU machine, then run: bash bench/gpu.sh OUT_DIR"
  exit 0
fi

# ---------------------------------------------------------------- run
OUT=""
LARGE=""
BUDGET=420
ALLOW_SOFTWARE=0
EXTRA=()
while (($#)); do
  case "$1" in
    --large) LARGE=--large ;;
    --budget) BUDGET=${2:?--budget needs seconds}; shift ;;
    --allow-software) ALLOW_SOFTWARE=1 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$OUT" ]] || die "one output folder only"; OUT=$1 ;;
  esac
  shift
done
[[ -n "$OUT" ]] || { usage >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/bench.log"
: > "$LOG"

# Node
NODE=${WGC_NODE:-}
if [[ -z "$NODE" ]] && command -v node > /dev/null; then NODE=$(command -v node); fi
if [[ -z "$NODE" && -f dist/node.xz ]]; then
  NODE="${TMPDIR:-/tmp}/wgc-node-$(id -u)"
  if [[ ! -x "$NODE" ]]; then
    say "unpacking dist/node.xz"
    if command -v xz > /dev/null; then xz -dc dist/node.xz > "$NODE.tmp"
    elif command -v python3 > /dev/null; then python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' dist/node.xz > "$NODE.tmp"
    else die "dist/node.xz needs xz or python3 to unpack"; fi
    chmod +x "$NODE.tmp" && mv "$NODE.tmp" "$NODE"
  fi
fi
[[ -n "$NODE" ]] || die "Node >= 20 is needed and none was found: put node on PATH, set WGC_NODE=/path/to/node, or run 'bash bench/gpu.sh --prepare --with-node' on a machine that has it and carry dist/"
NODE_MAJOR=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || die "$NODE does not run here (missing glibc/libstdc++?): $("$NODE" -v 2>&1 | head -1)"
((NODE_MAJOR >= 20)) || die "Node >= 20 is needed, $NODE is $("$NODE" -v)"

# The built engine and its packages
[[ -f dist/bench/run.js ]] || die "dist/ is not built: run 'bash bench/gpu.sh --prepare' (or 'npm run build') on a machine with node_modules and carry dist/"
if [[ ! -e node_modules && -f dist/gpu-runtime/node_modules/webgpu/dist/linux-x64/dawn.node ]]; then
  say "linking node_modules -> dist/gpu-runtime/node_modules (the runtime --prepare packed)"
  ln -s dist/gpu-runtime/node_modules node_modules
fi
if [[ ! -f node_modules/webgpu/dist/linux-x64/dawn.node ]]; then
  die "the webgpu package (Dawn for linux-x64) is missing: carry node_modules/, or run 'bash bench/gpu.sh --prepare' and carry dist/"
fi
if [[ "$(uname -m)" != "x86_64" ]]; then say "warning: $(uname -m) machine; the prepared runtime holds only the linux-x64 Dawn binary"; fi

# Vulkan
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  say "warning: libvulkan.so.1 is not in the linker cache; Dawn needs the Vulkan loader and the GPU vendor's ICD (NVIDIA: libnvidia-gl / nvidia_icd.json)"
fi

export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
{
  echo "# environment"
  date -u +%Y-%m-%dT%H:%M:%SZ
  uname -a
  echo "node $("$NODE" -v) at $NODE"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv || true
  echo "load average: $(cat /proc/loadavg 2>/dev/null || echo '?')"
} > "$OUT/environment.txt" 2>&1

say "adapter check (wgc info)"
if ! "$NODE" dist/src/cli/main.js info --json > "$OUT/adapter.json" 2>> "$LOG"; then
  tail -n 20 "$LOG" >&2
  die "no working WebGPU adapter (see $LOG); WGC_ADAPTER=<name> picks one by name"
fi
FALLBACK=$("$NODE" -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).adapter.isFallbackAdapter' "$OUT/adapter.json")
DESC=$("$NODE" -p 'const a = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).adapter; `${a.vendor} ${a.architecture} ${a.description}`' "$OUT/adapter.json")
say "adapter: $DESC"
if [[ "$FALLBACK" == "true" && $ALLOW_SOFTWARE == 0 ]]; then
  die "the adapter is a software fallback ($DESC), not the GPU: check the Vulkan driver, or set WGC_ADAPTER (e.g. WGC_ADAPTER=NVIDIA); --allow-software runs anyway"
fi

say "running the bench (budget ${BUDGET} s); log in $LOG"
START=$(date +%s)
# The budget stops new work in time; the outer timeout is the last resort if one step hangs.
set +e
timeout --signal=TERM --kill-after=10 $((BUDGET + 60)) "$NODE" dist/bench/run.js $LARGE --budget "$BUDGET" \
  --json "$OUT/bench.json" --markdown "$OUT/bench.md" --svg "$OUT/charts" ${EXTRA[@]+"${EXTRA[@]}"} 2>&1 | tee -a "$LOG" | grep -v '^Warning: maxDynamic'
STATUS=${PIPESTATUS[0]}
set -e
say "bench finished in $(($(date +%s) - START)) s with status $STATUS"
if ((STATUS != 0)); then
  # 124/130: stopped by the outer timeout; the bench then writes what it measured, marked "interrupted".
  if [[ ($STATUS == 124 || $STATUS == 130) && -f "$OUT/bench.json" ]]; then
    say "warning: stopped at the time limit; the reports hold the entries measured until then"
  else
    die "the bench failed (status $STATUS); see $LOG"
  fi
fi
ls -l "$OUT" "$OUT/charts"
