/**
 * The calibration data forms the calibration pipelines accept in
 * `PipelineContext.dataset`, and their conversion into token samples.
 */
import { drawCalibrationSamples, type CalibrationOptions as DrawOptions } from '../data/calibration.js';

/**
 * Calibration data for the `basic`, `sequential` and `layer_sequential`
 * pipelines:
 * - `{ documents }`: tokenized documents (e.g. from `loadTokenizedDataset`);
 *   samples are drawn with the run's numCalibrationSamples / maxSeqLength /
 *   seed (see `drawCalibrationSamples`, default mode `windows`);
 * - `{ samples }` or a bare array: ready token samples, used in order (the
 *   first numCalibrationSamples, each cut to maxSeqLength).
 */
export type CalibrationData =
  | { readonly documents: readonly (readonly number[])[]; readonly mode?: DrawOptions['mode'] }
  | { readonly samples: readonly (Int32Array | readonly number[])[] }
  | readonly (Int32Array | readonly number[])[];

export interface SampleOptions {
  numCalibrationSamples: number;
  maxSeqLength?: number;
  seed: number;
}

/** Default sample length when the run sets none: the model's trained length, at most 2048. */
export function defaultSampleLength(model: { readonly maxSequenceLength: number }): number {
  return Math.min(model.maxSequenceLength, 2048);
}

/** Token samples of `data`, or an error saying what the pipeline expected. */
export function calibrationSamples(data: unknown, options: SampleOptions, pipeline: string): Int32Array[] {
  if (data === undefined || data === null) {
    throw new Error(`the ${pipeline} pipeline runs forwards over calibration data, but no dataset was given (pass --dataset)`);
  }
  const cut = (list: readonly (Int32Array | readonly number[])[]): Int32Array[] => {
    const out = list.slice(0, options.numCalibrationSamples).map((s) => {
      const a = s instanceof Int32Array ? s : Int32Array.from(s);
      return options.maxSeqLength ? a.subarray(0, options.maxSeqLength) : a;
    });
    return out.filter((s) => s.length > 0);
  };
  let samples: Int32Array[];
  if (Array.isArray(data)) samples = cut(data as (Int32Array | number[])[]);
  else if (typeof data === 'object' && 'samples' in data && Array.isArray((data as { samples: unknown }).samples)) {
    samples = cut((data as { samples: (Int32Array | number[])[] }).samples);
  } else if (typeof data === 'object' && 'documents' in data && Array.isArray((data as { documents: unknown }).documents)) {
    const d = data as { documents: number[][]; mode?: DrawOptions['mode'] };
    if (!options.maxSeqLength) throw new Error(`the ${pipeline} pipeline needs maxSeqLength to draw calibration samples from documents`);
    samples = drawCalibrationSamples(d.documents, { numSamples: options.numCalibrationSamples, maxSeqLength: options.maxSeqLength, seed: options.seed, mode: d.mode });
  } else {
    throw new Error(`the ${pipeline} pipeline expects calibration data as { documents } (tokenized), { samples } or an array of token-id arrays; got ${typeof data}`);
  }
  if (!samples.length) throw new Error(`the ${pipeline} pipeline got no calibration samples`);
  return samples;
}
