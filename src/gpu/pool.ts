/**
 * Bucketed storage-buffer pool. Sizes round up to size classes (powers of two
 * below 1 MiB, then 1/4 steps between powers of two) so buffers are reused
 * across shapes. A released buffer goes back to the free list only after the
 * command batch that may still use it has been submitted (see
 * {@link BufferPool.releaseAfterSubmit}): a queue.writeBuffer into a reused
 * buffer must land after the earlier commands, and the queue orders it so only
 * once those commands are submitted.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private readonly live = new Set<GPUBuffer>();
  private bytesLive = 0;
  private bytesPeak = 0;
  private bytesCached = 0;
  /** Incremented whenever the pool destroys a buffer (invalidates cached bind groups). */
  generation = 0;
  /** Cap on bytes kept in free lists; beyond it released buffers are destroyed. */
  maxCachedBytes = 512 * 1024 * 1024;

  constructor(private readonly device: GPUDevice) {}

  static readonly STORAGE: GPUBufferUsageFlags = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST

  /** Size class a request of `bytes` is served from. */
  static bucket(bytes: number): number {
    const b = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
    const p = 2 ** Math.floor(Math.log2(b));
    const step = p / 4;
    return Math.ceil(b / step) * step;
  }

  /** A buffer of at least `bytes` with `usage` (default: storage + copy src/dst). */
  acquire(bytes: number, usage: GPUBufferUsageFlags = BufferPool.STORAGE, label?: string): GPUBuffer {
    const size = BufferPool.bucket(bytes);
    const key = `${size}:${usage}`;
    const list = this.free.get(key);
    let buf = list?.pop();
    if (buf) {
      this.bytesCached -= size;
    } else {
      buf = this.device.createBuffer({ size, usage, label });
    }
    this.live.add(buf);
    this.bytesLive += size;
    if (this.bytesLive > this.bytesPeak) this.bytesPeak = this.bytesLive;
    return buf;
  }

  /** Returns `buf` to the pool once the current batch is submitted. */
  releaseAfterSubmit(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    this.bytesLive -= buf.size;
    this.pending.push(buf);
  }

  /** Called by the batcher right after a submit. */
  onSubmitted(): void {
    for (const buf of this.pending) {
      if (this.bytesCached + buf.size > this.maxCachedBytes) {
        buf.destroy();
        this.generation++;
        continue;
      }
      const key = `${buf.size}:${buf.usage}`;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(buf);
      this.bytesCached += buf.size;
    }
    this.pending = [];
  }

  /** Destroys cached free buffers (live ones stay with their owners). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.generation++;
    this.bytesCached = 0;
  }

  destroyAll(): void {
    this.trim();
    for (const b of this.pending) b.destroy();
    for (const b of this.live) b.destroy();
    this.pending = [];
    this.live.clear();
    this.bytesLive = 0;
  }

  /** Bytes currently handed out, the high-water mark, and bytes cached for reuse. */
  stats(): { liveBytes: number; peakBytes: number; cachedBytes: number } {
    return { liveBytes: this.bytesLive, peakBytes: this.bytesPeak, cachedBytes: this.bytesCached };
  }

  resetPeak(): void {
    this.bytesPeak = this.bytesLive;
  }
}
