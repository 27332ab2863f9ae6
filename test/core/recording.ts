/** A modifier that records every hook call, for hook-order tests. */
import type { Event, EventPayload, Subgraph } from '../../src/core/events.js';
import type { State } from '../../src/core/state.js';
import { MODIFIER_FIELDS, Modifier, notImplemented, type InitializeOptions } from '../../src/modifiers/modifier.js';
import { field, t, type FieldSpec, type FieldsOut } from '../../src/recipe/schema.js';

export const calls: string[] = [];

const RECORDING_FIELDS = [
  field('label', t.string(), { required: true, doc: 'Name used in the call log.' }),
  field('needs_data', t.bool(), { default: false, doc: 'Report that calibration data is needed.' }),
  field('fail_on', t.nullable(t.string()), { default: null, doc: 'Hook name that throws.' }),
] as const;

export interface RecordingModifier extends FieldsOut<typeof RECORDING_FIELDS> {}

export class RecordingModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...RECORDING_FIELDS, ...MODIFIER_FIELDS];
  /** States seen by onInitialize, by label. */
  static readonly states = new Map<string, State>();

  override get requiresCalibrationData(): boolean {
    return this.needsData;
  }

  private rec(hook: string, extra = ''): void {
    calls.push(`${this.label}:${hook}${extra}`);
    if (this.failOn === hook) throw new Error(`${this.label} failed in ${hook}`);
  }

  override onInitialize(state: State, _o: InitializeOptions): boolean {
    RecordingModifier.states.set(this.label, state);
    this.rec('initialize');
    return true;
  }
  override onFinalize(): boolean {
    this.rec('finalize');
    return true;
  }
  override onEvent(_s: State, e: Event, _p: EventPayload): void {
    this.rec('event', `(${e.type})`);
  }
  override onStart(_s: State, e: Event): void {
    this.rec('start', `@${e.currentIndex}`);
  }
  override onUpdate(_s: State, e: Event): void {
    this.rec('update', `(${e.type})`);
  }
  override onEnd(_s: State, e: Event): void {
    this.rec('end', `@${e.currentIndex}`);
  }
  override onCalibrationStart(): void {
    this.rec('calibrationStart');
  }
  override onSequentialEpochEnd(_s: State, g: Subgraph): void {
    this.rec('sequentialEpochEnd', `#${g.index}/${g.count}`);
  }
  override onCalibrationEnd(): void {
    this.rec('calibrationEnd');
  }
}

/**
 * A modifier whose algorithm is missing, as a built-in one would be before
 * its implementation lands: initialize fails with the not-implemented error.
 */
export class PendingModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...MODIFIER_FIELDS];
  override onInitialize(): boolean {
    throw notImplemented(this);
  }
}
