import { parseArgs } from 'node:util';
import { acquireHardware } from '../../gpu/node/acquire.js';
import { Tensor } from '../../gpu/tensor.js';
import { castToF32 } from '../../gpu/kernels/elementwise.js';

export const summary = 'adapter, limits, features and a kernel self-test';

/** `wgc info [--json] [--adapter NAME]` */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean' }, adapter: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log('usage: wgc info [--json] [--adapter NAME]\n\nPrints the WebGPU adapter, its limits and features, and runs a one-second kernel self-test.');
    return 0;
  }
  const hw = await acquireHardware({ adapter: values.adapter });
  try {
    const selfTest = await runSelfTest(hw);
    const desc = hw.describe();
    if (values.json) {
      console.log(JSON.stringify({ ...desc, selfTest }, null, 2));
    } else {
      const a = desc.adapter;
      console.log(`adapter     ${a.vendor} / ${a.architecture} / ${a.device}`);
      console.log(`description ${a.description}${a.isFallbackAdapter ? ' (software fallback adapter)' : ''}`);
      console.log(`features    ${desc.features.join(', ')}`);
      for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage']) {
        console.log(`${k.padEnd(36)} ${desc.limits[k]}`);
      }
      console.log(`self-test   ${selfTest.ok ? 'ok' : 'FAILED'}: ${selfTest.detail}`);
    }
    return selfTest.ok ? 0 : 1;
  } finally {
    await hw.destroy();
  }
}

interface SelfTest {
  ok: boolean;
  detail: string;
  seconds: number;
}

/** Casts 1M halves with the GPU and checks every value against the CPU. */
async function runSelfTest(hw: Awaited<ReturnType<typeof acquireHardware>>): Promise<SelfTest> {
  const t0 = performance.now();
  const n = 1 << 20;
  const halves = new Uint16Array(n);
  for (let i = 0; i < n; i++) halves[i] = (i * 2654435761) & 0x7bff; // finite halves, both signs of exponent
  const input = Tensor.fromData(hw, halves, [n], 'f16');
  const out = castToF32(hw, input);
  const got = await out.readF32();
  input.dispose();
  out.dispose();
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const h = halves[i];
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    const want = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
    if (got[i] !== want) bad++;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { ok: bad === 0, detail: `f16->f32 cast of ${n} values, ${bad} mismatches, ${seconds.toFixed(3)} s`, seconds };
}
