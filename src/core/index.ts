/** Core: state, events, lifecycle, sessions, and the model interface modifiers work on. */
export { EventType, Event, type EventInit, type EventPayload, type Subgraph } from './events.js';
export { State, requireHardware, requireModel, type Data, type ModifiedState, type StateUpdate } from './state.js';
export {
  Module,
  Parameter,
  HookRegistry,
  registerModelLoader,
  getModelLoader,
  type HookCall,
  type HookFn,
  type HookHandle,
  type HookKind,
  type Model,
  type ModelLoader,
  type ParameterSource,
  type SaveContext,
} from './model.js';
export { CompressionLifecycle, LifecycleError, type InitializeArgs } from './lifecycle.js';
export { CompressionSession, LifecycleCallbacks, ScopedSession, activeSession, callbacks, createSession, resetSession } from './session.js';
