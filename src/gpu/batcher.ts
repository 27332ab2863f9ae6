import { BufferPool } from './pool.js';
import type { WorkgroupGrid } from './dispatch.js';

export interface BatcherOptions {
  /** Dispatches recorded before an automatic submit (ORT uses 16, tfjs 15). */
  flushEvery: number;
  minUniformAlignment: number;
  /** Called at every synchronisation point to surface device loss or errors. */
  checkAlive: () => void;
}

/** One recorded dispatch: everything but the uniform bytes is already a GPU object. */
export interface DispatchRecord {
  pipeline: GPUComputePipeline;
  /** Returns the bind group given this dispatch's slice of the uniform ring. */
  bindGroup: (uniform: GPUBufferBinding | undefined) => GPUBindGroup;
  uniformData?: ArrayBuffer;
  workgroups: WorkgroupGrid;
  /** Workgroup counts read on the GPU (three u32 at `offset`) instead of `workgroups`. */
  indirect?: { buffer: GPUBuffer; offset: number };
}

/**
 * Where {@link CommandBatcher.beginTiming} is writing timestamps: two queries
 * (beginning and end of pass) per compute pass the batcher opens.
 */
interface TimingState {
  readonly querySet: GPUQuerySet;
  used: number;
  overflowed: boolean;
}

/** A mapped upload staging range from {@link CommandBatcher.stageUpload}. */
export interface StagedUpload {
  /** The range to fill; valid until `commit` or `abandon`. */
  readonly bytes: Uint8Array;
  /** Records the copy of the filled range into `buf` at `offset`. */
  commit(buf: GPUBuffer, offset: number): void;
  /** Gives the range up without copying (after a failed fill). */
  abandon(): void;
}

/** What {@link CommandBatcher.endTiming} recorded. */
export interface TimedSpan {
  /** Compute passes that got a begin/end timestamp pair (queries `2i`, `2i+1`). */
  readonly passes: number;
  /** True when more passes were opened than the query set holds; those ran untimed. */
  readonly overflowed: boolean;
}

/**
 * Sums the durations of `passes` begin/end timestamp pairs (nanoseconds, as
 * resolved by {@link CommandBatcher.endTiming}) into seconds. A pair whose end
 * precedes its begin (a counter reset) contributes nothing.
 */
export function timedPassSeconds(resolved: ArrayBuffer, passes: number): number {
  const ns = new BigUint64Array(resolved, 0, 2 * passes);
  let total = 0n;
  for (let i = 0; i < passes; i++) {
    const d = ns[2 * i + 1] - ns[2 * i];
    if (d > 0n) total += d;
  }
  return Number(total) / 1e9;
}

const UNIFORM_SLOTS_MIN = 64;
const MAP_READ = 0x01 | 0x08; // MAP_READ | COPY_DST
const MAP_WRITE = 0x02 | 0x04; // MAP_WRITE | COPY_SRC

/**
 * Uploads of at least this many bytes go through pooled MAP_WRITE staging
 * buffers that stay mapped between uses. queue.writeBuffer stages into fresh
 * memory every call, and touching fresh pages dominates on a CPU adapter in
 * a VM: 16 MiB took 52 ms that way and 2–3 ms through a reused staging buffer.
 */
const STAGED_WRITE_MIN = 1 << 20;
/** Bytes of upload staging kept at most (larger or further uploads use writeBuffer). */
const STAGED_WRITE_POOL_MAX = 256 << 20;

/**
 * Records dispatches into one command encoder and one compute pass and
 * submits them together, every `flushEvery` dispatches or at a
 * synchronisation point (readback, upload after pending work, `flush()`).
 * Each dispatch gets its own slice of a per-batch uniform buffer: a
 * writeBuffer lands before the whole submit, so sharing one slice between
 * dispatches of a batch would give all of them the last value.
 */
export class CommandBatcher {
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private count = 0;
  private uniformSlot: number;
  private uniformBuf: GPUBuffer | undefined;
  private uniformStaging: Uint8Array;
  private uniformUsed = 0;
  private readonly readPool = new Map<number, GPUBuffer[]>();
  /** Mapped upload staging buffers by size class, and those whose copies await a submit. */
  private readonly writeReady = new Map<number, GPUBuffer[]>();
  private writeInFlight: GPUBuffer[] = [];
  private writeStagingBytes = 0;
  private destroyed = false;
  private timing: TimingState | undefined;
  /** Total dispatches and submits since creation (for overhead accounting). */
  dispatches = 0;
  submits = 0;

  constructor(private readonly device: GPUDevice, private readonly pool: BufferPool, private readonly options: BatcherOptions) {
    this.uniformSlot = Math.max(256, options.minUniformAlignment);
    this.uniformStaging = new Uint8Array(this.uniformSlot * Math.max(UNIFORM_SLOTS_MIN, options.flushEvery));
  }

  /** Number of dispatches and copies recorded but not yet submitted. */
  get pending(): number {
    return this.count;
  }

  private ensureEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private ensurePass(): GPUComputePassEncoder {
    if (!this.pass) {
      const t = this.timing;
      if (t && t.used + 2 <= t.querySet.count) {
        this.pass = this.ensureEncoder().beginComputePass({
          timestampWrites: { querySet: t.querySet, beginningOfPassWriteIndex: t.used, endOfPassWriteIndex: t.used + 1 },
        });
        t.used += 2;
      } else {
        if (t) t.overflowed = true;
        this.pass = this.ensureEncoder().beginComputePass();
      }
    }
    return this.pass;
  }

  /**
   * Starts timing recorded work on the GPU (the device needs the
   * `timestamp-query` feature; `querySet` is of type `timestamp`). Until
   * {@link endTiming}, every compute pass the batcher opens writes a
   * timestamp when it begins and when it ends, so the sum of the pairs is the
   * GPU time of the dispatches, without host gaps between submits. Copies and
   * clears recorded in between run outside passes and are not counted.
   * Passes beyond the set's capacity run untimed (see {@link TimedSpan}).
   */
  beginTiming(querySet: GPUQuerySet): void {
    if (this.timing) throw new Error('CommandBatcher.beginTiming: timing already active; call endTiming first');
    // Work recorded before this point must not land in a timed pass.
    this.endPass();
    this.timing = { querySet, used: 0, overflowed: false };
  }

  /**
   * Stops timing and records resolving the written queries into
   * `destination` at offset 0 (usage QUERY_RESOLVE | COPY_SRC, 8 bytes per
   * query); read it back with {@link read} and sum it with
   * {@link timedPassSeconds}.
   */
  endTiming(destination: GPUBuffer): TimedSpan {
    const t = this.timing;
    if (!t) throw new Error('CommandBatcher.endTiming: timing is not active');
    this.endPass();
    this.timing = undefined;
    if (t.used > 0) {
      this.ensureEncoder().resolveQuerySet(t.querySet, 0, t.used, destination, 0);
      this.count++;
    }
    return { passes: t.used / 2, overflowed: t.overflowed };
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  private uniformBuffer(): GPUBuffer {
    if (!this.uniformBuf || this.uniformBuf.size < this.uniformStaging.byteLength) {
      this.uniformBuf?.destroy();
      this.uniformBuf = this.device.createBuffer({
        size: this.uniformStaging.byteLength,
        usage: 0x40 | 0x08, // UNIFORM | COPY_DST
        label: 'wgc-uniform-ring',
      });
    }
    return this.uniformBuf;
  }

  /** Records one dispatch; submits the batch when it reaches `flushEvery`. */
  dispatch(rec: DispatchRecord): void {
    let uniformBuf: GPUBuffer | undefined;
    let uniformSize = 0;
    let uniformOffset = 0;
    if (rec.uniformData) {
      const size = Math.ceil(rec.uniformData.byteLength / 16) * 16;
      const slot = Math.ceil(size / this.uniformSlot) * this.uniformSlot;
      if (this.uniformUsed + slot > this.uniformStaging.byteLength) {
        if (this.count > 0) this.flush();
        if (slot > this.uniformStaging.byteLength) this.growUniforms(slot);
      }
      this.uniformStaging.set(new Uint8Array(rec.uniformData), this.uniformUsed);
      uniformBuf = this.uniformBuffer();
      uniformSize = size;
      uniformOffset = this.uniformUsed;
      this.uniformUsed += slot;
    }
    const pass = this.ensurePass();
    pass.setPipeline(rec.pipeline);
    // Dynamic uniform offsets would let one bind group serve every slot, but
    // measured 3-4x slower per dispatch on lavapipe; slices are static and
    // the kernel caches bind groups per (buffers, slot) instead.
    pass.setBindGroup(0, rec.bindGroup(uniformBuf ? { buffer: uniformBuf, offset: uniformOffset, size: uniformSize } : undefined));
    if (rec.indirect) pass.dispatchWorkgroupsIndirect(rec.indirect.buffer, rec.indirect.offset);
    else pass.dispatchWorkgroups(rec.workgroups[0], rec.workgroups[1], rec.workgroups[2]);
    this.count++;
    this.dispatches++;
    if (this.count >= this.options.flushEvery) this.flush();
  }

  private growUniforms(bytes: number): void {
    const next = new Uint8Array(Math.max(bytes, this.uniformStaging.byteLength * 2));
    next.set(this.uniformStaging.subarray(0, this.uniformUsed));
    this.uniformStaging = next;
  }

  /** Records a buffer-to-buffer copy in program order with the dispatches. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.count++;
    if (this.count >= this.options.flushEvery) this.flush();
  }

  /** Records a zero fill of `size` bytes at `offset`. */
  clear(buf: GPUBuffer, offset = 0, size?: number): void {
    this.endPass();
    this.ensureEncoder().clearBuffer(buf, offset, size);
    this.count++;
  }

  /**
   * Writes host data into `buf` in program order: pending dispatches that
   * might read the old contents are submitted first, since a queue write
   * would otherwise overtake them.
   */
  write(buf: GPUBuffer, offset: number, data: ArrayBufferView): void {
    const upload = offset % 4 === 0 ? this.stageUpload(data.byteLength) : null;
    if (upload) {
      upload.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      upload.commit(buf, offset);
      return;
    }
    if (this.count > 0) this.flush();
    this.device.queue.writeBuffer(buf, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /**
   * A mapped staging range of `size` bytes to fill (from a file, say) and
   * then `commit` into `buf` at `offset` (a multiple of 4): the copy is
   * recorded in program order at commit time. Null when the upload is too
   * small or large for staging (use {@link write}); `abandon` returns an
   * uncommitted range.
   */
  stageUpload(size: number): StagedUpload | null {
    if (size < STAGED_WRITE_MIN || size % 4 !== 0) return null;
    const bucket = BufferPool.bucket(size);
    let staging = this.writeReady.get(bucket)?.pop();
    if (!staging && this.writeStagingBytes + bucket <= STAGED_WRITE_POOL_MAX) {
      staging = this.device.createBuffer({ size: bucket, usage: MAP_WRITE, mappedAtCreation: true, label: 'wgc-upload' });
      this.writeStagingBytes += bucket;
    }
    if (!staging) return null;
    const held = staging;
    let done = false;
    return {
      bytes: new Uint8Array(held.getMappedRange(0, size)),
      commit: (buf, offset) => {
        if (done) throw new Error('stageUpload: committed or abandoned already');
        done = true;
        held.unmap();
        this.endPass();
        this.ensureEncoder().copyBufferToBuffer(held, 0, buf, offset, size);
        this.count++;
        this.writeInFlight.push(held);
        if (this.count >= this.options.flushEvery) this.flush();
      },
      abandon: () => {
        if (done) return;
        done = true;
        held.unmap();
        this.writeStagingBytes -= held.size;
        held.destroy();
      },
    };
  }

  /** Maps the upload staging buffers of a submitted batch again, to reuse once their copies are done. */
  private recycleUploads(): void {
    for (const staging of this.writeInFlight) {
      staging.mapAsync(0x0002 /* GPUMapMode.WRITE */).then(
        () => {
          if (this.destroyed) return staging.destroy();
          let list = this.writeReady.get(staging.size);
          if (!list) this.writeReady.set(staging.size, (list = []));
          list.push(staging);
        },
        () => {
          this.writeStagingBytes -= staging.size;
          staging.destroy();
        },
      );
    }
    this.writeInFlight = [];
  }

  /** Submits everything recorded so far. */
  flush(): void {
    this.endPass();
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformBuffer(), 0, this.uniformStaging.buffer, 0, this.uniformUsed);
      this.uniformUsed = 0;
    }
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.submits++;
      this.encoder = undefined;
    }
    this.count = 0;
    this.recycleUploads();
    this.pool.onSubmitted();
  }

  /**
   * Copies `size` bytes of `src` at `offset` back to the host. Submits pending
   * work; MAP_READ staging buffers are pooled by size class.
   */
  async read(src: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    const alignedSize = Math.ceil(size / 4) * 4;
    const bucket = BufferPool.bucket(alignedSize);
    const staging = this.readPool.get(bucket)?.pop() ?? this.device.createBuffer({ size: bucket, usage: MAP_READ, label: 'wgc-readback' });
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(src, offset, staging, 0, alignedSize);
    this.flush();
    try {
      await staging.mapAsync(0x0001 /* GPUMapMode.READ */, 0, alignedSize);
    } catch (e) {
      this.options.checkAlive();
      throw e;
    }
    const out = staging.getMappedRange(0, alignedSize).slice(0, size);
    staging.unmap();
    let list = this.readPool.get(bucket);
    if (!list) this.readPool.set(bucket, (list = []));
    // Keep a few per size class, as TVM does; more would just hold memory.
    if (list.length < 4) list.push(staging);
    else staging.destroy();
    this.options.checkAlive();
    return out;
  }

  destroy(): void {
    this.pass = undefined;
    this.timing = undefined;
    this.encoder = undefined;
    this.uniformBuf?.destroy();
    for (const list of this.readPool.values()) for (const b of list) b.destroy();
    this.readPool.clear();
    this.destroyed = true;
    for (const list of this.writeReady.values()) for (const b of list) b.destroy();
    this.writeReady.clear();
    for (const b of this.writeInFlight) b.destroy();
    this.writeInFlight = [];
  }
}
