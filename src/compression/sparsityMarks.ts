/**
 * Modules whose zeros a pruning modifier of this run decided: a later
 * quantization modifier (GPTQ) keeps them zero instead of letting its error
 * propagation refill them, so "SparseGPT 2:4 then GPTQ" stays 2:4.
 */
import type { Module } from '../core/model.js';

const pruned = new WeakSet<Module>();

export function markPruned(module: Module): void {
  pruned.add(module);
}

export function isPruned(module: Module): boolean {
  return pruned.has(module);
}
