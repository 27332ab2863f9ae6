/**
 * OWL (Outlier Weighed Layerwise sparsity; llm-compressor `sgpt_base.py`
 * `_infer_owl_layer_sparsity`, reference §6.2): per decoder layer, the share
 * of |W|·act scores above owl_m × their mean, min-max normalised and scaled
 * by 2·owl_lmbda, sets sparsity_k = 1 − (ratio_k − mean(ratio) + (1 − sparsity)).
 * Activation norms come from one whole-model pass over the calibration data
 * with only these hooks on (forward_pre of every Linear but lm_head), each
 * call adding (1/128)·‖X_j‖ as llm-compressor does (its nsamples default).
 *
 * llm-compressor at HEAD returns these per decoder layer and then assigns the
 * dictionary where a number or a per-target list is expected (which fails);
 * here every target module gets the sparsity of the decoder layer holding it.
 */
import type { Model, Module, HookHandle } from '../../core/model.js';
import type { State } from '../../core/state.js';
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { isCausalLM } from '../../models/causalLM.js';
import { calibrationSamples } from '../../models/calibrationData.js';
import { isMatch } from '../../recipe/match.js';
import { columnSquareNormsAccumulate } from '../../compression/kernels/hessian.js';
import { accumulateRoots } from '../../compression/kernels/prune.js';

const OWL_NSAMPLES = 128;

/**
 * Sparsity for each entry of `targets` (the prunable modules of each target
 * layer): the OWL sparsity of the decoder layer containing them.
 */
export async function owlLayerSparsities(hw: Hardware, state: State, model: Model, targets: readonly Module[][], sparsity: number, owlM: number, lmbda: number, who: string): Promise<number[]> {
  if (!isCausalLM(model)) throw new Error(`${who}: OWL runs the model over calibration data, but ${model.architecture} was loaded as a module tree only`);
  const unitTargets = model.defaultSequentialTargets ?? [];
  const layers = [...model.root.modules()].filter((m) => unitTargets.length > 0 && isMatch(m, unitTargets));
  if (layers.length < 2) throw new Error(`${who}: OWL needs at least two decoder layers (found ${layers.length})`);
  const samples = calibrationSamples(state.data.calib, { numCalibrationSamples: OWL_NSAMPLES, seed: 42 }, `${who} (OWL)`);

  // Activation norms of every Linear input except lm_head.
  const acts = new Map<Module, Tensor>();
  const scratch = new Map<Module, Tensor>();
  const handles: HookHandle[] = [];
  for (const m of model.root.modules()) {
    if (!m.isA('Linear') || m.name.includes('lm_head')) continue;
    handles.push(
      m.registerHook('forward_pre', (call) => {
        const x = call.inputs[0];
        const n = x.shape[x.shape.length - 1];
        let acc = acts.get(m);
        let sq = scratch.get(m);
        if (!acc) {
          acc = Tensor.empty(hw, [n], 'f32');
          hw.batcher.clear(acc.buffer, 0, acc.chunks[0].byteLength);
          acts.set(m, acc);
          sq = Tensor.empty(hw, [n], 'f32');
          scratch.set(m, sq);
        }
        columnSquareNormsAccumulate(hw, sq!, n, x, 0, 1);
        accumulateRoots(hw, acc, sq!, 1 / OWL_NSAMPLES);
      }),
    );
  }
  try {
    await model.root.hooks.withHooksDisabled(async () => {
      for (const ids of samples) {
        const shape = { batch: 1, seqLen: ids.length };
        let h = await model.embed(ids, shape);
        for (let i = 0; i < model.numLayers; i++) {
          const next = await model.layerForward(i, h, shape);
          h.dispose();
          h = next;
        }
        h.dispose();
      }
    }, handles);
  } finally {
    for (const h of handles) h.remove();
    for (const t of scratch.values()) t.dispose();
  }

  // Outlier ratio per decoder layer (scores |W|·act over all its Linears).
  const ratios: number[] = [];
  for (const layer of layers) {
    const scores: number[] = [];
    for (const m of layer.modules()) {
      const act = acts.get(m);
      if (!act || !m.isA('Linear')) continue;
      const w = await (await m.getParameter('weight')!.get()).readF32();
      const a = await act.readF32();
      const cols = a.length;
      for (let i = 0; i < w.length; i++) scores.push(Math.fround(Math.abs(w[i]) * a[i % cols]));
    }
    let mean = 0;
    for (const v of scores) mean += v;
    mean /= Math.max(1, scores.length);
    const thr = mean * owlM;
    let above = 0;
    for (const v of scores) if (v > thr) above++;
    ratios.push((100 * above) / Math.max(1, scores.length));
  }
  for (const t of acts.values()) t.dispose();
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  const scaled = ratios.map((r) => (hi > lo ? ((r - lo) * (1 / (hi - lo))) * lmbda * 2 : 0));
  const meanScaled = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  const perLayer = scaled.map((r) => 1 - (r - meanScaled + (1 - sparsity)));
  return targets.map((mods) => {
    const first = mods[0];
    const i = first ? layers.findIndex((l) => first === l || first.name.startsWith(l.name + '.')) : -1;
    return i >= 0 ? perLayer[i] : sparsity;
  });
}
