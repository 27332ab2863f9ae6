/**
 * QuantizationModifier: round-to-nearest PTQ of weights, activations and the
 * KV cache (llm-compressor `modifiers/quantization/quantization/base.py`).
 *
 * The recipe side is complete: fields, validation, preset expansion and the
 * calibration-data decision live in QuantizationMixin (./mixin.ts), the
 * argument rules in ./args.ts, the presets in ./presets.ts. The algorithm
 * (attach schemes, observe, compute qparams, fake-quantize, pack on save) is
 * not written yet; replace this class body with it.
 */
import type { State } from '../../core/state.js';
import { notImplemented, type InitializeOptions } from '../modifier.js';
import { QuantizationMixin } from './mixin.js';

/** Quantizes the modules matched by its config groups (no fields of its own). */
export class QuantizationModifier extends QuantizationMixin {
  override onInitialize(_state: State, _options: InitializeOptions): boolean {
    if (!this.hasConfig()) throw new Error(`${this.recipePath}: QuantizationModifier requires that quantization fields be specified`);
    throw notImplemented(this);
  }
}
