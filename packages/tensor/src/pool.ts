import { device, onDevice, reportOutOfMemory } from './device.ts';
import { fmtShape, KdgpuError } from './errors.ts';

/**
 * Pooled GPU storage buffers, bucketed by size class (4 classes per power of two above 4 KiB), so
 * a training loop reuses the same buffers step after step.
 *
 * Release order matters: a buffer released while commands that read it are still recorded (not
 * yet submitted) may be handed straight to another GPU op, since commands in one queue run in
 * order; but not to a CPU upload (`queue.writeBuffer` runs before unsubmitted commands), so such
 * buffers wait in `dirty` until the next submit.
 */

let nextId = 1;

/** A pooled storage buffer. `id` keys the bind-group cache. */
export interface Buf {
  readonly gpu: GPUBuffer;
  readonly size: number;
  readonly id: number;
}

const free = new Map<number, Buf[]>();
// Released since the last submit: fine for GPU-written outputs, not for uploads.
const dirty = new Map<number, Buf[]>();
let dirtyCount = 0;
let batchOpen = false;
let liveBuffers = 0;
let liveBytes = 0;
let pooledBytes = 0;
let peakLiveBytes = 0;
let liveTensors = 0;
/** Tensor handles created since the process started: every op's output, views and internal refs. */
let tensorsCreated = 0;
/** GPU buffers created by the pool since the process started (a steady step should create none). */
let buffersCreated = 0;
const destroyListeners: Array<() => void> = [];
// Buffers of the current device. After a device loss, `getDevice()` makes a new device: buffers of
// the old one must never be handed out again (using one is a validation error on the new device),
// so the pools are emptied and old buffers released later are dropped instead of pooled.
let owned = new WeakSet<GPUBuffer>();

onDevice(() => {
  free.clear();
  dirty.clear();
  dirtyCount = 0;
  batchOpen = false;
  pooledBytes = 0;
  owned = new WeakSet();
});

const USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

/** Rounds a byte count up to its size class. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

/**
 * Marks the start of a training step (the engine's `stepBoundary()`, after a submit). A step makes
 * the same allocations and releases in the same order every time, so if every step starts from
 * the same pool state it gets the same buffers, every dispatch binds the same buffers as the step
 * before, and the bind-group cache always hits. Released buffers reach the pool in orders that
 * depend on what ran between steps (a log-point readback, an evaluation), so the free lists are
 * put in a canonical order (by id) here.
 */
export function stepBoundary(): void {
  afterSubmit();
  for (const list of free.values()) list.sort(byId);
}

const byId = (a: Buf, b: Buf) => b.id - a.id;

function handOut(b: Buf): Buf {
  pooledBytes -= b.size;
  liveBuffers++;
  liveBytes += b.size;
  if (liveBytes > peakLiveBytes) peakLiveBytes = liveBytes;
  return b;
}

/**
 * Takes a buffer of at least `bytes` bytes. `forUpload` avoids buffers released since the last
 * submit (see above). `what` names the tensor in an out-of-memory error.
 */
export function acquire(bytes: number, forUpload = false, what?: () => string): Buf {
  const dev = device();
  const max = Math.min(dev.limits.maxStorageBufferBindingSize, dev.limits.maxBufferSize);
  // Near the limit, the exact size (4-byte aligned, as the limits are) instead of a size class past it.
  const cls = sizeClass(bytes);
  const size = cls > max && bytes <= max ? Math.max(16, Math.ceil(bytes / 4) * 4) : cls;
  const d = forUpload ? undefined : dirty.get(size);
  const list = d && d.length > 0 ? d : free.get(size);
  if (list && list.length > 0) {
    if (list === d) dirtyCount--;
    return handOut(list.pop()!);
  }
  if (size > max) {
    throw new KdgpuError(
      `out of GPU memory limits: ${what ? what() + ' ' : ''}needs ${bytes} bytes, but this adapter binds at most ` +
        `${max} bytes per buffer; use smaller batches or chunk the computation`,
    );
  }
  let gpu: GPUBuffer;
  // An allocation the driver cannot satisfy is reported asynchronously; the scope catches it so the
  // next sync point can name the tensor instead of a later op's "invalid buffer".
  dev.pushErrorScope('out-of-memory');
  try {
    gpu = dev.createBuffer({ size, usage: USAGE });
  } catch (e) {
    void dev.popErrorScope().catch(() => null);
    throw new KdgpuError(`GPU buffer allocation of ${size} bytes failed${what ? ' for ' + what() : ''}: ${(e as Error).message}`);
  }
  dev.popErrorScope().then(
    (err) => {
      if (err) reportOutOfMemory(`out of GPU memory: allocating ${size} bytes${what ? ' for ' + what() : ''} failed (${err.message}); use smaller batches or chunk the computation`);
    },
    () => undefined, // the device was lost: reported as such
  );
  owned.add(gpu);
  buffersCreated++;
  pooledBytes += size; // handOut takes it off again
  return handOut({ gpu, size, id: nextId++ });
}

/** Returns a buffer to the pool. */
export function release(b: Buf): void {
  liveBuffers--;
  liveBytes -= b.size;
  if (!owned.has(b.gpu)) return; // a buffer of a lost device: gone with it
  pooledBytes += b.size;
  if (batchOpen) {
    push(dirty, b);
    dirtyCount++;
  } else push(free, b);
}

function push(m: Map<number, Buf[]>, b: Buf): void {
  let list = m.get(b.size);
  if (!list) m.set(b.size, (list = []));
  list.push(b);
}

/** The engine says commands are recorded but not yet submitted. */
export function markBatchOpen(): void {
  batchOpen = true;
}

/** Called after each submit: released buffers become safe for uploads too. */
export function afterSubmit(): void {
  batchOpen = false;
  if (dirtyCount === 0) return;
  for (const list of dirty.values()) for (const b of list) push(free, b);
  dirty.clear();
  dirtyCount = 0;
}

/** Destroys every pooled (not live) buffer, returning their memory to the driver. */
export function trimPool(): void {
  for (const list of free.values()) for (const b of list) b.gpu.destroy();
  free.clear();
  pooledBytes = 0;
  for (const list of dirty.values()) for (const b of list) pooledBytes += b.size;
  for (const f of destroyListeners) f();
}

/** The bind-group cache drops entries when pooled buffers are destroyed. */
export function onDestroy(f: () => void): void {
  destroyListeners.push(f);
}

/** How many GPU buffers the pool has created (engineStats reports it). */
export function poolBuffersCreated(): number {
  return buffersCreated;
}

export function countTensor(delta: number): void {
  liveTensors += delta;
  if (delta > 0) tensorsCreated += delta;
}

/** How many tensor handles have been created (engineStats reports it: the recording path's unit of work). */
export function poolTensorsCreated(): number {
  return tensorsCreated;
}

/** Live tensors, buffers and bytes; `pooledBytes` is held for reuse; `peakBytes` since the last reset. */
export interface MemoryStats {
  liveTensors: number;
  liveBuffers: number;
  liveBytes: number;
  pooledBytes: number;
  peakBytes: number;
}

/** Reports what the runtime holds on the GPU right now. */
export function memoryStats(): MemoryStats {
  return { liveTensors, liveBuffers, liveBytes, pooledBytes, peakBytes: peakLiveBytes };
}

/** Starts a new peak measurement (for benchmarks of peak memory). */
export function resetPeakBytes(): void {
  peakLiveBytes = liveBytes;
}

/** Describes a tensor for allocation errors. */
export function describeAlloc(shape: readonly number[], dtype: string): () => string {
  return () => `tensor ${fmtShape(shape)} ${dtype}`;
}
