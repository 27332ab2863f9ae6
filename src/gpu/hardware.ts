import { BufferPool } from './pool.js';
import { CommandBatcher } from './batcher.js';
import { KernelRegistry } from './kernel.js';

/** What the kernels may rely on, resolved once from the device. */
export interface DeviceCaps {
  /** `shader-f16` is enabled: kernels may `enable f16;`. */
  readonly f16: boolean;
  /** `subgroups` is enabled: kernels may use subgroupAdd/Max. */
  readonly subgroups: boolean;
  /** Smallest subgroup size the adapter reports (sizes shared-memory slots). */
  readonly subgroupMinSize: number;
  readonly timestampQuery: boolean;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly minStorageBufferOffsetAlignment: number;
  readonly minUniformBufferOffsetAlignment: number;
}

/** Adapter description as users see it in `wgc info`. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}

export interface HardwareOptions {
  /**
   * Adapter choice: `"high-performance"` / `"low-power"` (power preference) or,
   * in Node, a substring of the adapter name handed to Dawn (`adapter=`).
   * Defaults to the `WGC_ADAPTER` environment variable in Node.
   */
  adapter?: string;
  /** Optional features to leave off even when available (to test fallbacks). */
  disableFeatures?: readonly GPUFeatureName[];
  /** Dispatches recorded before the batcher submits on its own. */
  flushEvery?: number;
}

/** Optional features the engine can use; each has a fallback kernel path. */
export const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** Limits requested up to what the adapter offers (the spec defaults are far lower). */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Raised for every GPU failure the engine detects: no adapter, lost device, validation errors. */
export class GpuError extends Error {
  override name = 'GpuError';
}

/**
 * The GPU as `State.hardware` holds it: adapter, device, limits, features,
 * and the engine's per-device services (buffer pool, command batcher, kernel
 * registry). Acquire one with `acquireHardware()` (Node) or
 * `acquireBrowserHardware()`; both end here.
 */
export class Hardware {
  /**
   * The GPU instance is held for the device's lifetime: Dawn's Node bindings
   * pump async callbacks (mapAsync, onSubmittedWorkDone) through it, and once
   * it is garbage-collected pending promises never settle.
   */
  readonly gpu: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly info: AdapterSummary;
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  readonly caps: DeviceCaps;
  /** Process rank and world size, kept for multi-device work later. */
  readonly rank = 0;
  readonly worldSize = 1;
  readonly pool: BufferPool;
  readonly batcher: CommandBatcher;
  readonly kernels: KernelRegistry;
  private lostReason: string | undefined;
  private uncaptured: string[] = [];
  private destroyed = false;

  private constructor(gpu: GPU, adapter: GPUAdapter, device: GPUDevice, options: HardwareOptions) {
    this.gpu = gpu;
    this.adapter = adapter;
    this.device = device;
    this.limits = device.limits;
    this.features = new Set([...device.features]);
    const info = adapter.info;
    this.info = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter),
      subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize,
      subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize,
    };
    const l = device.limits;
    this.caps = {
      f16: this.features.has('shader-f16'),
      subgroups: this.features.has('subgroups'),
      subgroupMinSize: this.info.subgroupMinSize ?? 4,
      timestampQuery: this.features.has('timestamp-query'),
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
    };
    this.pool = new BufferPool(device);
    this.kernels = new KernelRegistry(device, this.caps, (msg) => this.uncaptured.push(msg), () => this.pool.generation);
    this.batcher = new CommandBatcher(device, this.pool, {
      flushEvery: options.flushEvery ?? 32,
      minUniformAlignment: l.minUniformBufferOffsetAlignment,
      checkAlive: () => this.checkAlive(),
    });
    device.lost.then((lost) => {
      if (!this.destroyed) this.lostReason = `${lost.reason}: ${lost.message}`;
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.uncaptured.push(ev.error.message);
    };
  }

  /**
   * Requests an adapter from `gpu` and a device with every optional feature
   * the engine uses and the largest limits the adapter allows.
   */
  static async fromGPU(gpu: GPU, options: HardwareOptions = {}, installHint = ''): Promise<Hardware> {
    const pref = options.adapter === 'high-performance' || options.adapter === 'low-power' ? options.adapter : undefined;
    const adapter = await gpu.requestAdapter(pref ? { powerPreference: pref } : undefined);
    if (!adapter) {
      throw new GpuError(`No WebGPU adapter is available.${installHint ? ' ' + installHint : ''}`);
    }
    const disabled = new Set(options.disableFeatures ?? []);
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
    const requiredLimits: Record<string, number> = {};
    for (const name of WANTED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number>)[name];
      if (typeof v === 'number') requiredLimits[name] = v;
    }
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    return new Hardware(gpu, adapter, device, options);
  }

  /** Throws a {@link GpuError} if the device was lost or reported an uncaptured error. */
  checkAlive(): void {
    if (this.destroyed) throw new GpuError('Hardware was destroyed; acquire a new one.');
    if (this.lostReason !== undefined) throw new GpuError(`GPU device lost (${this.lostReason}). Results computed since the last check are invalid.`);
    if (this.uncaptured.length) {
      const msgs = this.uncaptured.splice(0);
      throw new GpuError(`GPU reported ${msgs.length} error(s): ${msgs.slice(0, 3).join(' | ')}`);
    }
  }

  /** Submits recorded work and waits for the GPU to finish it. */
  async sync(): Promise<void> {
    this.batcher.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.checkAlive();
  }

  /** Releases every buffer and the device. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      this.batcher.flush();
      await this.device.queue.onSubmittedWorkDone();
    } catch {
      // A lost device cannot finish its queue; releasing is all that is left.
    }
    this.destroyed = true;
    this.pool.destroyAll();
    this.batcher.destroy();
    this.device.destroy();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Plain summary for `wgc info` and benchmark JSON. */
  describe(): { adapter: AdapterSummary; features: string[]; limits: Record<string, number> } {
    const limits: Record<string, number> = {};
    for (const k in this.limits) {
      const v = (this.limits as unknown as Record<string, unknown>)[k];
      if (typeof v === 'number') limits[k] = v;
    }
    return { adapter: this.info, features: [...this.features].sort(), limits };
  }
}
