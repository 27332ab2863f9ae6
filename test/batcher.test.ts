// CommandBatcher and BufferPool against a recording fake device (no GPU): the
// fake keeps a queue timeline, executes submitted commands in order and
// enforces the WebGPU rules the batcher relies on (uniform offset alignment,
// no use of destroyed or mapped buffers, finished encoders, ended passes), so
// these tests check batching, flush points, uniform slices and deferred buffer
// reuse the way TVM's runtime tests do.
import { describe, it, expect } from 'vitest';
import { CommandBatcher } from '../src/gpu/batcher.js';
import { BufferPool } from '../src/gpu/pool.js';

const UNIFORM_ALIGN = 256;

class FakeBuffer {
  readonly data: Uint8Array;
  destroyed = false;
  mapped = false;
  constructor(readonly size: number, readonly usage: number, readonly label: string, readonly id: number) {
    this.data = new Uint8Array(size);
  }
  destroy(): void {
    this.destroyed = true;
  }
  /** Ranges handed out while mapped for writing, copied into `data` by unmap (as a real mapping would hold them). */
  private writes: { offset: number; bytes: Uint8Array }[] = [];
  async mapAsync(mode: number, offset = 0, size = this.size - offset): Promise<void> {
    if (this.destroyed) throw new Error(`mapAsync on destroyed ${this.name}`);
    if (mode === 0x01 && !(this.usage & 0x01)) throw new Error(`mapAsync on ${this.name} without MAP_READ`);
    if (mode === 0x02 && !(this.usage & 0x02)) throw new Error(`mapAsync on ${this.name} without MAP_WRITE`);
    if (offset + size > this.size) throw new Error(`mapAsync range past the end of ${this.name}`);
    if (this.mapped) throw new Error(`mapAsync on mapped ${this.name}`);
    this.mapped = true;
  }
  getMappedRange(offset = 0, size = this.size - offset): ArrayBuffer {
    if (!this.mapped) throw new Error(`getMappedRange on unmapped ${this.name}`);
    const bytes = this.data.slice(offset, offset + size);
    if (this.usage & 0x02) this.writes.push({ offset, bytes });
    return bytes.buffer;
  }
  unmap(): void {
    for (const w of this.writes) this.data.set(w.bytes, w.offset);
    this.writes = [];
    this.mapped = false;
  }
  get name(): string {
    return `${this.label}#${this.id}`;
  }
}

/** What a fake bind group holds: the uniform slice and the buffer the fake kernel writes. */
interface FakeBindGroup {
  uniform: GPUBufferBinding | undefined;
  out: FakeBuffer;
}

interface RecordedDispatch {
  pipeline: FakePipeline;
  bindGroup: FakeBindGroup;
  grid: [number, number, number];
}

type Command =
  | { type: 'pass'; dispatches: RecordedDispatch[] }
  | { type: 'copy'; src: FakeBuffer; srcOffset: number; dst: FakeBuffer; dstOffset: number; size: number }
  | { type: 'clear'; buf: FakeBuffer; offset: number; size: number };

/** Queue timeline as the fake saw it. */
type Event =
  | { op: 'writeBuffer'; buf: FakeBuffer; offset: number; size: number }
  | { op: 'submit'; commands: Command[] }
  | { op: 'createEncoder' }
  | { op: 'beginPass' };

/**
 * A fake kernel: reads (index, value) u32s from its uniform slice at execution
 * time and stores `value` at word `index` of its output buffer, so a shared or
 * stale uniform slice shows up as a wrong output.
 */
class FakePipeline {
  readonly label = 'storeWord';
  exec(bg: FakeBindGroup): void {
    if (!bg.uniform) throw new Error('storeWord needs a uniform');
    const ub = bg.uniform.buffer as unknown as FakeBuffer;
    const off = bg.uniform.offset ?? 0;
    const view = new DataView(ub.data.buffer, ub.data.byteOffset + off, 8);
    const index = view.getUint32(0, true);
    const value = view.getUint32(4, true);
    new DataView(bg.out.data.buffer).setUint32(index * 4, value, true);
  }
}

class FakeDevice {
  readonly events: Event[] = [];
  readonly buffers: FakeBuffer[] = [];
  private nextId = 0;

  readonly queue = {
    writeBuffer: (buf: FakeBuffer, offset: number, data: ArrayBufferLike, dataOffset = 0, size?: number): void => {
      const n = size ?? data.byteLength - dataOffset;
      this.checkUsable(buf, 'writeBuffer');
      if (offset % 4 || n % 4) throw new Error(`writeBuffer to ${buf.name}: offset ${offset} / size ${n} not a multiple of 4`);
      if (offset + n > buf.size) throw new Error(`writeBuffer past the end of ${buf.name}`);
      buf.data.set(new Uint8Array(data, dataOffset, n), offset);
      this.events.push({ op: 'writeBuffer', buf, offset, size: n });
    },
    submit: (cmdBufs: { commands: Command[] }[]): void => {
      for (const cb of cmdBufs) {
        this.events.push({ op: 'submit', commands: cb.commands });
        for (const c of cb.commands) this.execute(c);
      }
    },
    onSubmittedWorkDone: async (): Promise<void> => {},
  };

  createBuffer(desc: { size: number; usage: number; label?: string; mappedAtCreation?: boolean }): FakeBuffer {
    const b = new FakeBuffer(desc.size, desc.usage, desc.label ?? 'buffer', this.nextId++);
    if (desc.mappedAtCreation) b.mapped = true;
    this.buffers.push(b);
    return b;
  }

  createCommandEncoder(): unknown {
    this.events.push({ op: 'createEncoder' });
    const commands: Command[] = [];
    let finished = false;
    let openPass: { ended: boolean } | undefined;
    const live = (what: string): void => {
      if (finished) throw new Error(`${what} on a finished encoder`);
    };
    const noOpenPass = (what: string): void => {
      if (openPass && !openPass.ended) throw new Error(`${what} while a compute pass is open`);
    };
    return {
      beginComputePass: () => {
        live('beginComputePass');
        noOpenPass('beginComputePass');
        this.events.push({ op: 'beginPass' });
        const cmd: Command = { type: 'pass', dispatches: [] };
        commands.push(cmd);
        const state = { ended: false };
        openPass = state;
        let pipeline: FakePipeline | undefined;
        let bindGroup: FakeBindGroup | undefined;
        const open = (what: string): void => {
          if (state.ended) throw new Error(`${what} on an ended pass`);
        };
        return {
          setPipeline: (p: FakePipeline) => {
            open('setPipeline');
            pipeline = p;
          },
          setBindGroup: (index: number, bg: FakeBindGroup) => {
            open('setBindGroup');
            if (index !== 0) throw new Error('kernels use group 0 only');
            if (bg.uniform && (bg.uniform.offset ?? 0) % UNIFORM_ALIGN) throw new Error(`uniform offset ${bg.uniform.offset} not ${UNIFORM_ALIGN}-aligned`);
            bindGroup = bg;
          },
          dispatchWorkgroups: (x: number, y = 1, z = 1) => {
            open('dispatchWorkgroups');
            if (!pipeline || !bindGroup) throw new Error('dispatch without pipeline or bind group');
            cmd.dispatches.push({ pipeline, bindGroup, grid: [x, y, z] });
          },
          end: () => {
            open('end');
            state.ended = true;
          },
        };
      },
      copyBufferToBuffer: (src: FakeBuffer, srcOffset: number, dst: FakeBuffer, dstOffset: number, size: number) => {
        live('copyBufferToBuffer');
        noOpenPass('copyBufferToBuffer');
        if (size % 4) throw new Error(`copy of ${size} bytes is not a multiple of 4`);
        commands.push({ type: 'copy', src, srcOffset, dst, dstOffset, size });
      },
      clearBuffer: (buf: FakeBuffer, offset = 0, size?: number) => {
        live('clearBuffer');
        noOpenPass('clearBuffer');
        commands.push({ type: 'clear', buf, offset, size: size ?? buf.size - offset });
      },
      finish: () => {
        live('finish');
        noOpenPass('finish');
        finished = true;
        return { commands };
      },
    };
  }

  private checkUsable(buf: FakeBuffer, what: string): void {
    if (buf.destroyed) throw new Error(`${what} uses destroyed ${buf.name}`);
    if (buf.mapped) throw new Error(`${what} uses mapped ${buf.name}`);
  }

  private execute(c: Command): void {
    if (c.type === 'pass') {
      for (const d of c.dispatches) {
        this.checkUsable(d.bindGroup.out, 'dispatch');
        if (d.bindGroup.uniform) this.checkUsable(d.bindGroup.uniform.buffer as unknown as FakeBuffer, 'dispatch');
        d.pipeline.exec(d.bindGroup);
      }
    } else if (c.type === 'copy') {
      this.checkUsable(c.src, 'copy');
      this.checkUsable(c.dst, 'copy');
      c.dst.data.set(c.src.data.subarray(c.srcOffset, c.srcOffset + c.size), c.dstOffset);
    } else {
      this.checkUsable(c.buf, 'clearBuffer');
      c.buf.data.fill(0, c.offset, c.offset + c.size);
    }
  }

  get submits(): Extract<Event, { op: 'submit' }>[] {
    return this.events.filter((e): e is Extract<Event, { op: 'submit' }> => e.op === 'submit');
  }

  count(op: Event['op']): number {
    return this.events.filter((e) => e.op === op).length;
  }
}

function setup(flushEvery = 32): { dev: FakeDevice; pool: BufferPool; batcher: CommandBatcher; alive: { checks: number } } {
  const dev = new FakeDevice();
  const gpu = dev as unknown as GPUDevice;
  const pool = new BufferPool(gpu);
  const alive = { checks: 0 };
  const batcher = new CommandBatcher(gpu, pool, { flushEvery, minUniformAlignment: UNIFORM_ALIGN, checkAlive: () => void alive.checks++ });
  return { dev, pool, batcher, alive };
}

const pipeline = new FakePipeline();

/** Records one storeWord dispatch: out[index] = value, with (index, value) in its uniform. */
function storeWord(batcher: CommandBatcher, out: GPUBuffer, index: number, value: number, uniformBytes = 8): void {
  const u = new ArrayBuffer(uniformBytes);
  new DataView(u).setUint32(0, index, true);
  new DataView(u).setUint32(4, value, true);
  batcher.dispatch({
    pipeline: pipeline as unknown as GPUComputePipeline,
    uniformData: u,
    workgroups: [1, 1, 1],
    bindGroup: (uniform) => ({ uniform, out: out as unknown as FakeBuffer }) as unknown as GPUBindGroup,
  });
}

async function readWords(batcher: CommandBatcher, buf: GPUBuffer, words: number): Promise<number[]> {
  return Array.from(new Uint32Array(await batcher.read(buf, 0, words * 4)));
}

const passSizes = (s: { commands: Command[] }): (number | string)[] =>
  s.commands.map((c) => (c.type === 'pass' ? c.dispatches.length : c.type));

describe('CommandBatcher', () => {
  it('records dispatches into one encoder and one pass and submits nothing until a flush', () => {
    const { dev, pool, batcher } = setup();
    const out = pool.acquire(64);
    for (let i = 0; i < 5; i++) storeWord(batcher, out, i, 100 + i);
    expect(dev.count('submit')).toBe(0);
    expect(dev.count('createEncoder')).toBe(1);
    expect(dev.count('beginPass')).toBe(1);
    expect(batcher.pending).toBe(5);
    batcher.flush();
    expect(dev.submits.map(passSizes)).toEqual([[5]]);
    expect(batcher.pending).toBe(0);
    expect(batcher.submits).toBe(1);
    expect(batcher.dispatches).toBe(5);
    // A flush with nothing recorded submits nothing.
    batcher.flush();
    expect(dev.count('submit')).toBe(1);
  });

  it('submits on its own every flushEvery dispatches', () => {
    const { dev, pool, batcher } = setup(4);
    const out = pool.acquire(64);
    for (let i = 0; i < 10; i++) storeWord(batcher, out, i, i);
    expect(dev.submits.map(passSizes)).toEqual([[4], [4]]);
    expect(batcher.pending).toBe(2);
    batcher.flush();
    expect(dev.submits.map(passSizes)).toEqual([[4], [4], [2]]);
  });

  it('gives each dispatch of a batch its own aligned uniform slice, written once before the submit', async () => {
    const { dev, pool, batcher } = setup();
    const out = pool.acquire(64);
    const n = 7;
    for (let i = 0; i < n; i++) storeWord(batcher, out, i, 1000 + i);
    batcher.flush();
    const [submit] = dev.submits;
    const pass = submit.commands[0];
    if (pass.type !== 'pass') throw new Error('expected a pass');
    const slices = pass.dispatches.map((d) => d.bindGroup.uniform!);
    const offsets = slices.map((s) => s.offset ?? 0);
    expect(new Set(offsets).size).toBe(n);
    expect(new Set(slices.map((s) => s.buffer)).size).toBe(1);
    for (const o of offsets) expect(o % UNIFORM_ALIGN).toBe(0);
    for (const s of slices) expect(s.size).toBeGreaterThanOrEqual(8);
    // Uniform bytes land in one writeBuffer, queued before the submit that reads them.
    const iWrite = dev.events.findIndex((e) => e.op === 'writeBuffer' && e.buf === (slices[0].buffer as unknown as FakeBuffer));
    const iSubmit = dev.events.indexOf(submit);
    expect(iWrite).toBeGreaterThanOrEqual(0);
    expect(iWrite).toBeLessThan(iSubmit);
    expect(dev.events.filter((e) => e.op === 'writeBuffer').length).toBe(1);
    expect(await readWords(batcher, out, n)).toEqual([1000, 1001, 1002, 1003, 1004, 1005, 1006]);
  });

  it('keeps results right when the uniform ring is reused by later batches', async () => {
    const { pool, batcher } = setup(3);
    const out = pool.acquire(256);
    const want: number[] = [];
    for (let i = 0; i < 40; i++) {
      storeWord(batcher, out, i, i * 7 + 1);
      want.push(i * 7 + 1);
    }
    expect(await readWords(batcher, out, 40)).toEqual(want);
  });

  it('flushes when the uniform ring is full and grows it for an oversized uniform', async () => {
    const { dev, pool, batcher } = setup(64);
    const out = pool.acquire(1024);
    // The ring holds 64 slots of 256 bytes; a 300-byte uniform takes two, so
    // the 33rd dispatch must start a new batch although flushEvery is 64.
    for (let i = 0; i < 40; i++) storeWord(batcher, out, i, 5000 + i, 300);
    expect(dev.submits.map(passSizes)).toEqual([[32]]);
    // A uniform larger than the whole ring (16 KiB) still gets its own slice.
    storeWord(batcher, out, 40, 9999, 20_000);
    const got = await readWords(batcher, out, 41);
    expect(got).toEqual([...Array.from({ length: 40 }, (_, i) => 5000 + i), 9999]);
    expect(dev.submits.map(passSizes)).toEqual([[32], [8], [1, 'copy']]);
    // The grown ring serves later batches too.
    for (let i = 0; i < 3; i++) storeWord(batcher, out, i, 7 + i);
    expect(await readWords(batcher, out, 3)).toEqual([7, 8, 9]);
  });

  it('submits pending dispatches before a readback, in one submit with the copy', async () => {
    const { dev, pool, batcher, alive } = setup();
    const out = pool.acquire(64);
    storeWord(batcher, out, 0, 11);
    storeWord(batcher, out, 1, 22);
    storeWord(batcher, out, 2, 33);
    expect(await readWords(batcher, out, 3)).toEqual([11, 22, 33]);
    expect(dev.submits.map(passSizes)).toEqual([[3, 'copy']]);
    expect(alive.checks).toBeGreaterThan(0);
    // An unaligned size is read through a word-aligned copy and trimmed.
    const b = await batcher.read(out, 0, 5);
    expect(b.byteLength).toBe(5);
  });

  it('reuses MAP_READ staging buffers per size class', async () => {
    const { dev, pool, batcher } = setup();
    const out = pool.acquire(4096);
    await batcher.read(out, 0, 1000);
    await batcher.read(out, 0, 900);
    await batcher.read(out, 0, 4096);
    const staging = dev.buffers.filter((b) => b.usage & 0x01);
    expect(staging.map((b) => b.size)).toEqual([1024, 4096]);
  });

  it('submits pending work before a host write, and only then', () => {
    const { dev, pool, batcher } = setup();
    const a = pool.acquire(64);
    const b = pool.acquire(64);
    // Nothing pending: the write goes straight to the queue.
    batcher.write(a, 0, new Uint32Array([1, 2, 3, 4]));
    expect(dev.count('submit')).toBe(0);
    storeWord(batcher, b, 0, 42);
    batcher.write(a, 0, new Uint32Array([5, 6, 7, 8]));
    const ops = dev.events.filter((e) => e.op === 'submit' || (e.op === 'writeBuffer' && e.buf === (a as unknown as FakeBuffer))).map((e) => e.op);
    expect(ops).toEqual(['writeBuffer', 'submit', 'writeBuffer']);
    expect(Array.from(new Uint32Array((a as unknown as FakeBuffer).data.buffer, 0, 4))).toEqual([5, 6, 7, 8]);
  });

  it('stages large writes through reused MAP_WRITE buffers, in program order with the dispatches', async () => {
    const { dev, pool, batcher } = setup();
    const n = (1 << 20) / 4;
    const a = pool.acquire(4 * n);
    const b = pool.acquire(4 * n);
    const first = Uint32Array.from({ length: n }, (_, i) => i * 7 + 1);
    const second = Uint32Array.from({ length: n }, (_, i) => i * 3 + 2);
    batcher.write(a, 0, first);
    // A dispatch after the write sees it; a write after the dispatch does not overtake it.
    storeWord(batcher, b, 0, 42);
    batcher.copy(a, 0, b, 4, 4 * (n - 1));
    batcher.write(a, 0, second);
    expect(dev.count('writeBuffer')).toBe(0);
    const gotB = await readWords(batcher, b, n);
    expect(gotB[0]).toBe(42);
    expect(gotB.slice(1)).toEqual(Array.from(first.subarray(0, n - 1)));
    expect(await readWords(batcher, a, n)).toEqual(Array.from(second));
    // Once their copies were submitted the staging buffers are mapped again and reused.
    await new Promise((r) => setTimeout(r, 0));
    const before = dev.buffers.filter((x) => x.usage & 0x02).length;
    batcher.write(a, 0, first);
    batcher.flush();
    expect(dev.buffers.filter((x) => x.usage & 0x02).length).toBe(before);
    expect(await readWords(batcher, a, n)).toEqual(Array.from(first));
    // Small writes still take writeBuffer.
    batcher.write(a, 0, new Uint32Array([9, 9, 9, 9]));
    expect(dev.count('writeBuffer')).toBeGreaterThan(0);
  });

  it('records copies and clears in program order between passes', async () => {
    const { dev, pool, batcher } = setup();
    const a = pool.acquire(64);
    const b = pool.acquire(64);
    storeWord(batcher, a, 0, 7);
    batcher.copy(a, 0, b, 0, 16);
    batcher.clear(a);
    storeWord(batcher, a, 1, 8);
    expect(dev.count('createEncoder')).toBe(1);
    batcher.flush();
    expect(dev.submits.map(passSizes)).toEqual([[1, 'copy', 'clear', 1]]);
    expect(await readWords(batcher, b, 2)).toEqual([7, 0]);
    expect(await readWords(batcher, a, 2)).toEqual([0, 8]);
  });
});

describe('BufferPool with the batcher', () => {
  it('reuses a buffer released mid-batch only after the batch is submitted', () => {
    const { dev, pool, batcher } = setup();
    const a = pool.acquire(1000);
    storeWord(batcher, a, 0, 1);
    pool.releaseAfterSubmit(a);
    const b = pool.acquire(1000);
    expect(b).not.toBe(a);
    storeWord(batcher, b, 0, 2);
    batcher.flush();
    expect((a as unknown as FakeBuffer).destroyed).toBe(false);
    const c = pool.acquire(900); // same size class (1024)
    expect(c).toBe(a);
    expect(dev.buffers.filter((x) => x.label !== 'wgc-uniform-ring').length).toBe(2);
  });

  it('serves size classes and usages separately and tracks live and peak bytes', () => {
    const { pool, batcher } = setup();
    expect(BufferPool.bucket(1)).toBe(16);
    expect(BufferPool.bucket(1000)).toBe(1024);
    expect(BufferPool.bucket((1 << 20) + 1)).toBe((1 << 20) + (1 << 18));
    const a = pool.acquire(1000);
    const m = pool.acquire(1000, 0x01 | 0x08);
    pool.releaseAfterSubmit(a);
    pool.releaseAfterSubmit(m);
    pool.releaseAfterSubmit(m); // a second release is ignored
    batcher.flush();
    expect(pool.stats()).toEqual({ liveBytes: 0, peakBytes: 2048, cachedBytes: 2048 });
    expect(pool.acquire(1000, 0x01 | 0x08)).toBe(m);
    expect(pool.acquire(1000)).toBe(a);
    expect(pool.stats().cachedBytes).toBe(0);
  });

  it('destroys released buffers beyond the cache cap instead of keeping them', () => {
    const { pool, batcher } = setup();
    pool.maxCachedBytes = 1024;
    const a = pool.acquire(1024);
    const b = pool.acquire(1024);
    pool.releaseAfterSubmit(a);
    pool.releaseAfterSubmit(b);
    batcher.flush();
    expect([(a as unknown as FakeBuffer).destroyed, (b as unknown as FakeBuffer).destroyed]).toEqual([false, true]);
    expect(pool.stats().cachedBytes).toBe(1024);
  });

  it('a buffer reused after the submit never sees a write overtake the earlier batch', async () => {
    const { pool, batcher } = setup();
    const a = pool.acquire(64);
    batcher.write(a, 0, new Uint32Array(16).fill(0xaaaa));
    const out = pool.acquire(64);
    // The dispatch reads nothing from `a`, but a copy out of it is recorded
    // before `a` is released and rewritten: the copy must see the old data.
    batcher.copy(a, 0, out, 0, 64);
    storeWord(batcher, out, 15, 3);
    pool.releaseAfterSubmit(a);
    const again = pool.acquire(64);
    expect(again).not.toBe(a); // not yet submitted
    pool.releaseAfterSubmit(again);
    batcher.write(out, 60, new Uint32Array([4])); // forces the submit
    const reused = pool.acquire(64);
    expect([a, again]).toContain(reused);
    batcher.write(reused, 0, new Uint32Array(16).fill(0xbbbb));
    const got = await readWords(batcher, out, 16);
    expect(got.slice(0, 15)).toEqual(new Array(15).fill(0xaaaa));
    expect(got[15]).toBe(4);
  });
});
