#!/usr/bin/env node
// Probes for a WebGPU adapter through Dawn's Node bindings (npm "webgpu").
// Exit codes: 0 adapter and device found (prints one line describing it),
// 1 no adapter, 2 the bindings could not be loaded (npm ci not run?),
// 3 timed out. Used by scripts/setup.sh to decide whether a software Vulkan
// driver has to be installed.
const TIMEOUT_MS = 30_000;

if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';

const timer = setTimeout(() => {
  console.error(`probe-adapter: no answer from Dawn within ${TIMEOUT_MS / 1000} s`);
  process.exit(3);
}, TIMEOUT_MS);

let create;
try {
  ({ create } = await import('webgpu'));
} catch (e) {
  console.error(`probe-adapter: cannot load the "webgpu" package (${e.message}); run npm ci first`);
  process.exit(2);
}

let code = 1;
try {
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    console.error('probe-adapter: Dawn found no WebGPU adapter (no usable Vulkan driver)');
  } else {
    // An adapter that cannot open a device is as good as none.
    const device = await adapter.requestDevice();
    const i = adapter.info;
    console.log(`probe-adapter: ${i.vendor || '?'} / ${i.architecture || '?'} / ${i.description || i.device || '?'}${i.isFallbackAdapter ? ' (fallback)' : ''}`);
    device.destroy();
    code = 0;
  }
} catch (e) {
  console.error(`probe-adapter: ${e.message}`);
}
clearTimeout(timer);
// Dawn may keep its event pump alive for a moment; the answer is known now.
process.exit(code);
