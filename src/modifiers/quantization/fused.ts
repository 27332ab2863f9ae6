/**
 * Layers vLLM fuses (q/k/v, gate/up): with NVFP4 (tensor_group) weights they
 * must share one global scale, observed over all members' original weights
 * (llm-compressor's fused observers, compressed-tensors.md §4.6).
 */
import type { Module } from '../../core/model.js';
import type { Hardware } from '../../gpu/hardware.js';
import type { Tensor } from '../../gpu/tensor.js';
import { observeGlobalStats } from '../../quantization/quantizeWeight.js';

/** Sibling names that form one fused layer. */
export const FUSED_SETS: readonly (readonly string[])[] = [['q_proj', 'k_proj', 'v_proj'], ['gate_proj', 'up_proj'], ['w1', 'w3']];

/**
 * The members of `module`'s fused set that `isMember` accepts (itself
 * included), with a key naming the set; undefined when fewer than two.
 */
export function fusedSet(module: Module, isMember: (m: Module) => boolean): { key: string; members: Module[] } | undefined {
  if (!module.parent) return undefined;
  const set = FUSED_SETS.find((s) => s.includes(module.localName));
  if (!set) return undefined;
  const members = set.map((n) => module.parent!.children.get(n)).filter((m): m is Module => !!m && isMember(m));
  if (members.length < 2 || !members.includes(module)) return undefined;
  return { key: `${module.parent.name}/${set.join(',')}`, members };
}

/**
 * Min/max keys over the f32 weights `weightOf` gives for every member (one
 * GPU buffer, words 0–1, as `quantizeWeightGpu`'s `globalStats` takes it).
 */
export async function observeFusedStats(hw: Hardware, members: readonly Module[], weightOf: (m: Module) => Promise<{ weight: Tensor; owned: boolean }>): Promise<GPUBuffer> {
  const weights: { weight: Tensor; owned: boolean }[] = [];
  for (const m of members) weights.push(await weightOf(m));
  const stats = observeGlobalStats(hw, weights.map((w) => w.weight));
  for (const w of weights) if (w.owned) w.weight.dispose();
  return stats;
}
