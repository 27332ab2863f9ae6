/**
 * `npm run bench -- [--quick] [--only PATTERN] [--json FILE]`
 * Measures the device's ceilings (copy bandwidth, transfers, dispatch
 * overhead, f32 matmul), then every registered kernel/scenario module, prints
 * a table and writes JSON with the adapter description. Numbers here are
 * measurements, never expectations of a timed test.
 */
import { parseArgs } from 'node:util';
import { existsSync, writeFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { acquireHardware } from '../src/gpu/node/acquire.js';
import type { Hardware } from '../src/gpu/hardware.js';
import type { BenchEntry, BenchOptions } from './types.js';
import { benchCopy, benchTransfers, benchDispatchOverhead, benchMatmul } from './ceilings.js';

type BenchFn = (hw: Hardware, opts: BenchOptions) => Promise<BenchEntry[]>;

/** Modules that add entries; each exports a default or named async bench function. */
const MODULES = ['quantize', 'forward', 'gptq'];

async function loadModule(name: string): Promise<BenchFn | undefined> {
  const url = new URL(`./${name}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  const mod = (await import(url.href)) as Record<string, unknown>;
  const fn = mod.default ?? mod.bench ?? Object.values(mod).find((v) => typeof v === 'function');
  return typeof fn === 'function' ? (fn as BenchFn) : undefined;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toPrecision(3);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      json: { type: 'string' },
      adapter: { type: 'string' },
    },
  });
  const opts: BenchOptions = { quick: Boolean(values.quick) };
  const only = values.only ? new RegExp(values.only) : undefined;
  const hw = await acquireHardware({ adapter: values.adapter });
  const started = new Date().toISOString();
  const entries: BenchEntry[] = [];
  const record = (list: BenchEntry[]): void => {
    for (const e of list) {
      if (only && !only.test(e.name)) continue;
      entries.push(e);
      const spread = e.spread !== undefined ? ` ±${(e.spread * 50).toFixed(0)}%` : '';
      console.log(`${e.name.padEnd(48)} ${fmt(e.value).padStart(10)} ${e.unit.padEnd(9)}${spread}`);
    }
  };
  try {
    const d = hw.describe();
    console.log(`adapter: ${d.adapter.vendor} ${d.adapter.architecture} ${d.adapter.description}${opts.quick ? ' (quick)' : ''}`);
    const copy = await benchCopy(hw, opts);
    record([copy]);
    record(await benchTransfers(hw, opts));
    record([await benchDispatchOverhead(hw, opts)]);
    const mm = await benchMatmul(hw, opts);
    record(mm);
    const bestMatmul = Math.max(...mm.map((e) => e.value));
    for (const name of MODULES) {
      const fn = await loadModule(name);
      if (!fn) continue;
      const list = await fn(hw, opts);
      // Fractions of the matching ceiling: bandwidth-bound entries against copy, arithmetic against matmul.
      for (const e of list) {
        if (e.unit === 'GB/s') e.extra = { ...e.extra, fractionOfCopy: e.value / copy.value };
        if (e.unit === 'GFLOP/s') e.extra = { ...e.extra, fractionOfMatmul: e.value / bestMatmul };
      }
      record(list);
    }
    if (values.json) {
      const doc = { started, finished: new Date().toISOString(), quick: opts.quick, ...d, ceilings: { copyGBps: copy.value, matmulGFLOPs: bestMatmul }, entries };
      writeFileSync(values.json + '.tmp', JSON.stringify(doc, null, 2) + '\n');
      renameSync(values.json + '.tmp', values.json);
      console.log(`wrote ${values.json}`);
    }
  } finally {
    await hw.destroy();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exit(1);
  },
);
