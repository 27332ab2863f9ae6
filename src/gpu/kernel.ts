import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { VariableInfo, TypeInfo } from 'wgsl_reflect';
import { shaderSources } from './shaderSources.generated.js';
import { preprocessWgsl } from './preprocess.js';
import type { DeviceCaps } from './hardware.js';
import type { CommandBatcher } from './batcher.js';
import { foldWorkgroups, type WorkgroupGrid } from './dispatch.js';

/** Which compiled kernel to use: everything that changes WGSL text or pipeline constants. */
export interface KernelSpec {
  /** File name in `shaders/` without `.wgsl`. */
  shader: string;
  entryPoint: string;
  /** `#if` flags. `SUBGROUPS` and `F16` default to the device's capabilities. */
  flags?: Readonly<Record<string, boolean>>;
  /** Values for `override` declarations (workgroup sizes, tile sizes). */
  constants?: Readonly<Record<string, number>>;
}

/** A buffer region bound to a storage or uniform binding. */
export interface BufferSlice {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

export type UniformValue = number | readonly number[];

export interface DispatchArgs {
  /** Storage buffers by the variable name the shader declares. */
  bindings: Readonly<Record<string, BufferSlice | GPUBuffer>>;
  /** Members of the shader's uniform struct by name. */
  uniforms?: Readonly<Record<string, UniformValue>>;
  /** Workgroup count: a number is folded into a grid that fits the per-dimension limit. */
  workgroups: number | WorkgroupGrid;
  /**
   * Take the workgroup counts from a GPU buffer (three u32 at `offset`, usage
   * INDIRECT) written by earlier work; `workgroups` is then ignored.
   */
  indirect?: { buffer: GPUBuffer; offset?: number };
}

interface UniformMember {
  name: string;
  offset: number;
  scalar: 'f32' | 'u32' | 'i32';
  count: number;
}

interface BindingInfo {
  name: string;
  binding: number;
  kind: 'uniform' | 'read-only-storage' | 'storage';
}

function scalarOf(t: TypeInfo, where: string): { scalar: 'f32' | 'u32' | 'i32'; count: number } {
  const n = t.name.replace(/<.*>$/, '');
  const fmt = (t as unknown as { format?: { name: string } }).format?.name;
  const direct: Record<string, ['f32' | 'u32' | 'i32', number]> = {
    f32: ['f32', 1], u32: ['u32', 1], i32: ['i32', 1],
    vec2f: ['f32', 2], vec3f: ['f32', 3], vec4f: ['f32', 4],
    vec2u: ['u32', 2], vec3u: ['u32', 3], vec4u: ['u32', 4],
    vec2i: ['i32', 2], vec3i: ['i32', 3], vec4i: ['i32', 4],
  };
  if (direct[n]) return { scalar: direct[n][0], count: direct[n][1] };
  if ((n === 'vec2' || n === 'vec3' || n === 'vec4') && (fmt === 'f32' || fmt === 'u32' || fmt === 'i32')) {
    return { scalar: fmt, count: Number(n[3]) };
  }
  throw new Error(`${where}: uniform member type ${t.name} is not supported (use f32/u32/i32 scalars or vectors)`);
}

/**
 * A compiled compute pipeline with the layout `wgsl_reflect` derived from its
 * source. `run()` checks that the caller binds exactly the resources the
 * entry point uses and fills the uniform struct by member name, using the
 * offsets the reflection computed.
 */
export class Kernel {
  readonly name: string;
  readonly workgroupSize: readonly [number, number, number];
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly wgsl: string;
  private readonly bindingInfo: BindingInfo[];
  private readonly uniformName: string | undefined;
  private readonly uniformSize: number;
  private readonly uniformMembers: UniformMember[];

  constructor(
    private readonly device: GPUDevice,
    spec: KernelSpec,
    wgsl: string,
    private readonly maxPerDim: number,
    reportError: (message: string) => void = () => {},
    private readonly generation: () => number = () => 0,
  ) {
    this.name = `${spec.shader}.${spec.entryPoint}`;
    this.wgsl = wgsl;
    const reflect = new WgslReflect(wgsl);
    const entry = reflect.entry.compute.find((f) => f.name === spec.entryPoint);
    if (!entry) throw new Error(`shaders/${spec.shader}.wgsl has no @compute entry point "${spec.entryPoint}"`);
    const ws = entry.workgroupSize ?? [1, 1, 1];
    const resolve = (v: unknown, i: number): number => {
      if (typeof v === 'number') return v;
      throw new Error(`${this.name}: workgroup size dimension ${i} could not be resolved by reflection`);
    };
    // Overrides given as pipeline constants replace their defaults in the size.
    const overridden = entry.attributes?.find((a) => a.name === 'workgroup_size');
    let size: [number, number, number] = [resolve(ws[0], 0), resolve(ws[1] ?? 1, 1), resolve(ws[2] ?? 1, 2)];
    if (overridden && spec.constants) {
      const args = Array.isArray(overridden.value) ? overridden.value : [overridden.value];
      size = size.map((d, i) => {
        const a = String(args[i] ?? '').trim();
        return a in spec.constants! ? spec.constants![a] : d;
      }) as [number, number, number];
    }
    this.workgroupSize = size;

    const resources: VariableInfo[] = entry.resources;
    const bindings: BindingInfo[] = [];
    let uniformName: string | undefined;
    let uniformSize = 0;
    let members: UniformMember[] = [];
    for (const v of resources) {
      if (v.group !== 0) throw new Error(`${this.name}: binding ${v.name} is in group ${v.group}; kernels use group 0 only`);
      if (v.resourceType === ResourceType.Uniform) {
        if (uniformName) throw new Error(`${this.name}: more than one uniform binding (${uniformName}, ${v.name})`);
        uniformName = v.name;
        uniformSize = v.size;
        members = (v.members ?? []).map((m) => ({ name: m.name, offset: m.offset, ...scalarOf(m.type, `${this.name}.${v.name}.${m.name}`) }));
        bindings.push({ name: v.name, binding: v.binding, kind: 'uniform' });
      } else if (v.resourceType === ResourceType.Storage) {
        bindings.push({ name: v.name, binding: v.binding, kind: v.access === 'read' ? 'read-only-storage' : 'storage' });
      } else {
        throw new Error(`${this.name}: resource ${v.name} is not a buffer; kernels bind buffers only`);
      }
    }
    bindings.sort((a, b) => a.binding - b.binding);
    this.bindingInfo = bindings;
    this.uniformName = uniformName;
    this.uniformSize = uniformSize;
    this.uniformMembers = members;
    this.layout = device.createBindGroupLayout({
      label: this.name,
      entries: bindings.map((b) => ({
        binding: b.binding,
        visibility: 4 /* COMPUTE */,
        buffer: { type: b.kind },
      })),
    });
    const module = device.createShaderModule({ code: wgsl, label: this.name });
    // Compilation errors arrive asynchronously; route them to the device's
    // error list so the next synchronisation point names the failing kernel.
    void module.getCompilationInfo?.().then((info) => {
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length) reportError(`shaders/${spec.shader}.wgsl (${this.name}): ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
    });
    this.pipeline = device.createComputePipeline({
      label: this.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.layout] }),
      compute: { module, entryPoint: spec.entryPoint, constants: spec.constants as Record<string, number> | undefined },
    });
  }

  /** Names of the storage bindings the entry point uses, in binding order. */
  get storageBindings(): string[] {
    return this.bindingInfo.filter((b) => b.kind !== 'uniform').map((b) => b.name);
  }

  /** Uniform struct member names in declaration order. */
  get uniformMemberNames(): string[] {
    return this.uniformMembers.map((m) => m.name);
  }

  /** Serialises uniform values at the reflected offsets. */
  packUniforms(values: Readonly<Record<string, UniformValue>>): ArrayBuffer {
    const buf = new ArrayBuffer(Math.max(16, this.uniformSize));
    const view = new DataView(buf);
    const given = new Set(Object.keys(values));
    for (const m of this.uniformMembers) {
      const v = values[m.name];
      if (v === undefined) throw new Error(`${this.name}: uniform ${m.name} not provided`);
      given.delete(m.name);
      const arr = typeof v === 'number' ? [v] : v;
      if (arr.length !== m.count) throw new Error(`${this.name}: uniform ${m.name} needs ${m.count} value(s), got ${arr.length}`);
      arr.forEach((x, i) => {
        const off = m.offset + 4 * i;
        if (m.scalar === 'f32') view.setFloat32(off, x, true);
        else if (m.scalar === 'u32') {
          if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new Error(`${this.name}: uniform ${m.name}=${x} is not a u32`);
          view.setUint32(off, x, true);
        } else {
          if (!Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff) throw new Error(`${this.name}: uniform ${m.name}=${x} is not an i32`);
          view.setInt32(off, x, true);
        }
      });
    }
    if (given.size) throw new Error(`${this.name}: unknown uniform(s) ${[...given].join(', ')} (declared: ${this.uniformMemberNames.join(', ')})`);
    return buf;
  }

  /** Records one dispatch of this kernel into `batcher`. */
  run(batcher: CommandBatcher, args: DispatchArgs): void {
    const provided = new Set(Object.keys(args.bindings));
    const slices = new Map<string, BufferSlice>();
    for (const b of this.bindingInfo) {
      if (b.kind === 'uniform') continue;
      const v = args.bindings[b.name];
      if (!v) throw new Error(`${this.name}: binding "${b.name}" not provided (shader uses: ${this.storageBindings.join(', ')})`);
      provided.delete(b.name);
      // A GPUBuffer has mapAsync; a slice is a plain {buffer, offset, size}.
      slices.set(b.name, 'mapAsync' in v ? { buffer: v } : v);
    }
    if (provided.size) throw new Error(`${this.name}: binding(s) ${[...provided].join(', ')} are not used by the shader (uses: ${this.storageBindings.join(', ')})`);
    if (this.uniformName && !args.uniforms) throw new Error(`${this.name}: uniforms required (${this.uniformMemberNames.join(', ')})`);
    const uniformData = this.uniformName ? this.packUniforms(args.uniforms ?? {}) : undefined;
    const workgroups = typeof args.workgroups === 'number' ? foldWorkgroups(args.workgroups, this.maxPerDim) : args.workgroups;
    if (!args.indirect && workgroups[0] * workgroups[1] * workgroups[2] === 0) return;
    batcher.dispatch({
      pipeline: this.pipeline,
      workgroups,
      indirect: args.indirect ? { buffer: args.indirect.buffer, offset: args.indirect.offset ?? 0 } : undefined,
      uniformData,
      bindGroup: (uniform) => this.bindGroupFor(slices, uniform),
    });
  }

  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private bindGroupsGeneration = -1;

  /**
   * Bind groups are cached by the exact buffers, offsets and sizes bound
   * (createBindGroup costs about as much as a small dispatch in Dawn). The
   * cache is dropped whenever the pool destroys a buffer, since a cached
   * group could name it.
   */
  private bindGroupFor(slices: Map<string, BufferSlice>, uniform: GPUBufferBinding | undefined): GPUBindGroup {
    const gen = this.generation();
    if (gen !== this.bindGroupsGeneration || this.bindGroups.size > 256) {
      this.bindGroups.clear();
      this.bindGroupsGeneration = gen;
    }
    let key = uniform ? `u${bufferId(uniform.buffer)}:${uniform.offset}:${uniform.size}` : '';
    for (const b of this.bindingInfo) {
      if (b.kind === 'uniform') continue;
      const s = slices.get(b.name)!;
      key += `|${bufferId(s.buffer)}:${s.offset ?? 0}:${s.size ?? -1}`;
    }
    let group = this.bindGroups.get(key);
    if (!group) {
      group = this.device.createBindGroup({
        layout: this.layout,
        entries: this.bindingInfo.map((b) => ({
          binding: b.binding,
          resource: b.kind === 'uniform' ? uniform! : slices.get(b.name)!,
        })),
      });
      this.bindGroups.set(key, group);
    }
    return group;
  }
}

const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;

/** A stable small integer per GPUBuffer object, for cache keys. */
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
  return id;
}

/** Compiles kernels on first use and caches them by name, flags and constants. */
export class KernelRegistry {
  private readonly cache = new Map<string, Kernel>();

  constructor(
    private readonly device: GPUDevice,
    private readonly caps: DeviceCaps,
    private readonly reportError: (message: string) => void = () => {},
    private readonly generation: () => number = () => 0,
  ) {}

  /** Preprocessed WGSL text of a shader for the given flags (device defaults applied). */
  source(shader: string, flags: Readonly<Record<string, boolean>> = {}): string {
    const src = shaderSources[shader];
    if (src === undefined) throw new Error(`no shader named "${shader}" in shaders/ (known: ${Object.keys(shaderSources).join(', ')})`);
    return preprocessWgsl(src, this.defaultFlags(flags), `shaders/${shader}.wgsl`);
  }

  private defaultFlags(flags: Readonly<Record<string, boolean>>): Record<string, boolean> {
    return { SUBGROUPS: this.caps.subgroups, F16: this.caps.f16, ...flags };
  }

  get(spec: KernelSpec): Kernel {
    const flags = this.defaultFlags(spec.flags ?? {});
    const key = `${spec.shader}:${spec.entryPoint}:${JSON.stringify(Object.entries(flags).sort())}:${JSON.stringify(Object.entries(spec.constants ?? {}).sort())}`;
    let k = this.cache.get(key);
    if (!k) {
      const wgsl = this.source(spec.shader, flags);
      k = new Kernel(this.device, { ...spec, flags }, wgsl, this.caps.maxComputeWorkgroupsPerDimension, this.reportError, this.generation);
      this.cache.set(key, k);
    }
    return k;
  }

  get size(): number {
    return this.cache.size;
  }
}
