/**
 * Runs one `wgc` command in this process and reports what it cost, so that
 * peak resident memory is the scenario's own (the bench runner starts one
 * child per scenario):
 *
 *   node dist/bench/scenario.js --result FILE [--] <command> [args…]
 *
 * The command module (`dist/src/cli/commands/<command>.js`) runs through its
 * public `run(argv)`; its output passes through. Every `Hardware` it acquires
 * is observed (by wrapping `Hardware.fromGPU`) to read the engine's peak GPU
 * bytes (`hw.pool.stats().peakBytes`) after it finishes. FILE receives JSON:
 * `{ status: 'ok' | 'failed' | 'unavailable', exitCode, wallSeconds,
 * maxRssBytes, peakGpuBytes, devices, reason? }`.
 */
import { existsSync, writeFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Hardware } from '../src/gpu/hardware.js';

export interface ScenarioResult {
  status: 'ok' | 'failed' | 'unavailable';
  command: string;
  exitCode: number | null;
  wallSeconds: number;
  /** Peak resident set of this process (`process.resourceUsage().maxRSS`), bytes. */
  maxRssBytes: number;
  /** Largest `pool.stats().peakBytes` over the Hardware instances the command acquired. */
  peakGpuBytes: number | null;
  devices: number;
  reason?: string;
}

type CommandModule = { run(argv: string[]): Promise<number> };

function commandPath(command: string): URL {
  return new URL(`../src/cli/commands/${command}.js`, import.meta.url);
}

/** Whether `wgc <command>` exists in this build. */
export function commandAvailable(command: string): boolean {
  return /^[a-z][a-z0-9-]*$/.test(command) && existsSync(fileURLToPath(commandPath(command)));
}

async function runScenario(command: string, argv: string[]): Promise<ScenarioResult> {
  const base = { command, exitCode: null, wallSeconds: 0, maxRssBytes: 0, peakGpuBytes: null, devices: 0 };
  if (!commandAvailable(command)) return { ...base, status: 'unavailable', reason: `wgc ${command} is not in this build (no src/cli/commands/${command}.ts)` };
  const seen: Hardware[] = [];
  const fromGPU = Hardware.fromGPU.bind(Hardware);
  Hardware.fromGPU = async (...args: Parameters<typeof Hardware.fromGPU>) => {
    const hw = await fromGPU(...args);
    seen.push(hw);
    return hw;
  };
  const mod = (await import(commandPath(command).href)) as CommandModule;
  const t0 = performance.now();
  let exitCode: number;
  let reason: string | undefined;
  try {
    exitCode = await mod.run(argv);
  } catch (e) {
    exitCode = 1;
    reason = e instanceof Error ? e.message : String(e);
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  // The pool keeps its high-water mark after destroy().
  const peaks = seen.map((hw) => hw.pool.stats().peakBytes);
  for (const hw of seen) await hw.destroy();
  return {
    ...base,
    status: exitCode === 0 ? 'ok' : 'failed',
    exitCode,
    wallSeconds,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    peakGpuBytes: peaks.length ? Math.max(...peaks) : null,
    devices: seen.length,
    reason: reason ?? (exitCode === 0 ? undefined : `exit code ${exitCode}${exitCode === 2 ? ' (usage: an option this build does not have?)' : ''}`),
  };
}

async function main(argv: string[]): Promise<number> {
  let i = 0;
  let resultFile: string | undefined;
  if (argv[i] === '--result') {
    resultFile = argv[i + 1];
    i += 2;
  }
  if (argv[i] === '--') i++;
  const [command, ...rest] = argv.slice(i);
  if (!resultFile || !command) {
    console.error('usage: scenario --result FILE [--] <command> [args…]');
    return 2;
  }
  const result = await runScenario(command, rest);
  writeFileSync(resultFile + '.tmp', JSON.stringify(result, null, 2) + '\n');
  renameSync(resultFile + '.tmp', resultFile);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`scenario: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
