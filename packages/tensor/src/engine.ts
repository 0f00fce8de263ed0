import { checkDeviceHealth, device, onDevice } from './device.ts';
import { runtimeKind } from './env.ts';
import { KdgpuError } from './errors.ts';
import { type BufferDecl, type Bindings, type Kernel, packParams, PARAM_WORDS, type ParamDecl, type ParamValues } from './kernel.ts';
import { afterSubmit, type Buf, markBatchOpen, onDestroy, poolBuffersCreated, poolTensorsCreated, stepBoundary as poolStepBoundary } from './pool.ts';

/**
 * Records compute dispatches into one shared command encoder and submits them at sync points
 * (a readback, a full parameter arena, or an explicit `flush()`).
 *
 * Costs on a software adapter (lavapipe) decide the design: a dispatch costs ~50 µs, a fresh bind
 * group ~130 µs, a readback ~0.35 ms. So pipelines are cached by shader key, bind groups by the
 * buffers they bind (pooled buffers recur step after step), and each op's small parameters go into
 * one arena buffer per submit, bound with a dynamic offset, instead of a new buffer per dispatch.
 *
 * Kernels declare their buffers and parameters once (`defineKernel`, in `kernel.ts`); the bindings,
 * the `struct Params` and the packing of host values by name all come from that declaration. The
 * layout it produces: inputs at bindings 0..nIn-1 (`var<storage, read>`), outputs after them
 * (`var<storage, read_write>`), then `params` (`var<storage, read>`, one 256-byte arena slot).
 */

const PARAM_SLOT = PARAM_WORDS * 4; // bytes; minStorageBufferOffsetAlignment is at most 256
const ARENA_SLOTS = 2048;
/** Submit after this many dispatches so the GPU starts while the CPU records the rest. */
const SUBMIT_EVERY = 256;
const BIND_GROUP_CACHE = 8192;

let encoder: GPUCommandEncoder | null = null;
let pass: GPUComputePassEncoder | null = null;
let arenaBuf: GPUBuffer | null = null;
const arenaCpu = new Uint32Array((ARENA_SLOTS * PARAM_SLOT) / 4);
// The same bytes seen as i32 and f32, so that parameters are written as their declared type.
const arenaI32 = new Int32Array(arenaCpu.buffer);
const arenaF32 = new Float32Array(arenaCpu.buffer);
let arenaUsed = 0; // slots
let sinceSubmit = 0;

// WGSL rejects constant expressions that evaluate to inf/NaN, so such constants go through a function.
const PRELUDE = 'fn bitsToF32(u: u32) -> f32 { return bitcast<f32>(u); }\n';

const pipelines = new Map<string, GPUComputePipeline>();
const staging = new Map<number, GPUBuffer[]>();
const layouts = new Map<number, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();

const counters = { dispatches: 0, submits: 0, readbacks: 0, pipelinesCreated: 0, bindGroupsCreated: 0, uploads: 0 };

onDevice(() => {
  // Everything below belongs to the previous device (if any); none of it is valid on a new one.
  staging.clear();
  pipelines.clear();
  layouts.clear();
  bindGroups.clear();
  bindGroupCount = 0;
  encoder = null;
  pass = null;
  arenaBuf = null;
  arenaUsed = 0;
});
onDestroy(() => {
  bindGroups.clear();
  bindGroupCount = 0;
});

/**
 * Counts of GPU work since the process started (tests assert on `readbacks`; a steady training
 * step adds nothing to `pipelinesCreated`, `bindGroupsCreated` or `buffersCreated`).
 * `tensorsCreated` counts tensor handles (op outputs, views, autograd's saved references): the
 * recording path's unit of work, so JS time per step / handles per step is the cost of recording one.
 */
export function engineStats(): Readonly<typeof counters & { buffersCreated: number; tensorsCreated: number }> {
  return { ...counters, buffersCreated: poolBuffersCreated(), tensorsCreated: poolTensorsCreated() };
}

function layoutFor(nIn: number, nOut: number) {
  const key = nIn * 256 + nOut;
  let l = layouts.get(key);
  if (!l) {
    const dev = device();
    const entries: GPUBindGroupLayoutEntry[] = [];
    for (let i = 0; i < nIn; i++) entries.push({ binding: i, visibility: 4, buffer: { type: 'read-only-storage' } });
    for (let i = 0; i < nOut; i++) entries.push({ binding: nIn + i, visibility: 4, buffer: { type: 'storage' } });
    entries.push({ binding: nIn + nOut, visibility: 4, buffer: { type: 'read-only-storage', hasDynamicOffset: true } });
    const bgl = dev.createBindGroupLayout({ entries });
    l = { bgl, pl: dev.createPipelineLayout({ bindGroupLayouts: [bgl] }) };
    layouts.set(key, l);
  }
  return l;
}

function pipelineFor(k: Kernel): GPUComputePipeline {
  let p = pipelines.get(k.key);
  if (!p) {
    const dev = device();
    const code = PRELUDE + k.code();
    const module = dev.createShaderModule({ code, label: k.key });
    p = dev.createComputePipeline({ layout: layoutFor(k.nIn, k.nOut).pl, compute: { module, entryPoint: 'main' }, label: k.key });
    pipelines.set(k.key, p);
    counters.pipelinesCreated++;
  }
  return p;
}

function arena(): GPUBuffer {
  arenaBuf ??= device().createBuffer({ size: ARENA_SLOTS * PARAM_SLOT, usage: 0x80 /* STORAGE */ | 0x08 /* COPY_DST */ });
  return arenaBuf;
}

// Bind groups by layout, then by the ids of the bound buffers in binding order: a trie of maps
// keyed by numbers, so a cache hit allocates no key string (this runs once per dispatch).
type BindTrie = Map<number, BindTrie | GPUBindGroup>;
const bindGroups = new Map<GPUBindGroupLayout, BindTrie>();
let bindGroupCount = 0;

function bindGroupFor(k: Kernel, bufs: Buf[]): GPUBindGroup {
  // A bound on memory: pooled buffers recur, so the cache refills with what is still in use.
  if (bindGroupCount >= BIND_GROUP_CACHE) {
    bindGroups.clear();
    bindGroupCount = 0;
  }
  const l = layoutFor(k.nIn, k.nOut);
  let node = bindGroups.get(l.bgl);
  if (!node) bindGroups.set(l.bgl, (node = new Map()));
  const last = bufs.length - 1;
  for (let i = 0; i < last; i++) {
    let next = node.get(bufs[i].id) as BindTrie | undefined;
    if (!next) node.set(bufs[i].id, (next = new Map()));
    node = next;
  }
  const hit = node.get(bufs[last].id) as GPUBindGroup | undefined;
  if (hit) return hit;
  const entries: GPUBindGroupEntry[] = bufs.map((b, i) => ({ binding: i, resource: { buffer: b.gpu } }));
  entries.push({ binding: bufs.length, resource: { buffer: arena(), offset: 0, size: PARAM_SLOT } });
  const bg = device().createBindGroup({ layout: l.bgl, entries });
  counters.bindGroupsCreated++;
  bindGroupCount++;
  node.set(bufs[last].id, bg);
  return bg;
}

function ensurePass(): GPUComputePassEncoder {
  if (!pass) {
    encoder ??= device().createCommandEncoder();
    pass = encoder.beginComputePass();
    markBatchOpen();
  }
  return pass;
}

/**
 * Records one dispatch of `k`: `buffers` and `params` by the names `k` declares (typed from the
 * declaration, so a wrong name fails `tsc`). `groups` is the workgroup grid; each dimension must be
 * <= 65535 (see `grid`).
 */
export function dispatch<I extends BufferDecl, O extends BufferDecl, P extends ParamDecl>(
  k: Kernel<I, O, P>,
  buffers: NoInfer<Bindings<I, O, Buf>>,
  params: NoInfer<ParamValues<P>>,
  groups: readonly [number, number, number],
): void {
  if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
  if (arenaUsed === ARENA_SLOTS) flush();
  const slot = arenaUsed;
  packParams(k, params, slot * PARAM_WORDS, arenaCpu, arenaI32, arenaF32);
  const named = buffers as { readonly [name: string]: Buf | undefined };
  const bufs: Buf[] = [];
  for (const n of k.bindings) {
    const b = named[n];
    if (!b) throw new KdgpuError(`kernel ${k.key}: buffer '${n}' missing`);
    bufs.push(b);
  }
  checkDeviceHealth();
  const pipeline = pipelineFor(k);
  const bg = bindGroupFor(k, bufs);
  if (profiled) profiled.push({ kernel: k.key, pipeline, bindGroup: bg, params: arenaCpu.slice(slot * PARAM_WORDS, (slot + 1) * PARAM_WORDS), groups: [groups[0], groups[1], groups[2]] });
  arenaUsed++;
  const p = ensurePass();
  p.setPipeline(pipeline);
  p.setBindGroup(0, bg, [slot * PARAM_SLOT]);
  p.dispatchWorkgroups(groups[0], groups[1], groups[2]);
  counters.dispatches++;
  if (++sinceSubmit >= SUBMIT_EVERY) flush();
}

/** Records a buffer-to-buffer copy (ends the open compute pass). */
export function copyBuffer(src: Buf, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
  if (pass) {
    pass.end();
    pass = null;
  }
  encoder ??= device().createCommandEncoder();
  markBatchOpen();
  encoder.copyBufferToBuffer(src.gpu, srcOffset, dst, dstOffset, bytes);
}

/** Submits everything recorded so far. Cheap when nothing is pending. */
export function flush(): void {
  if (!encoder) return;
  if (pass) {
    pass.end();
    pass = null;
  }
  const dev = device();
  if (arenaUsed > 0) dev.queue.writeBuffer(arena(), 0, arenaCpu.buffer, 0, arenaUsed * PARAM_SLOT);
  dev.queue.submit([encoder.finish()]);
  encoder = null;
  arenaUsed = 0;
  sinceSubmit = 0;
  counters.submits++;
  afterSubmit();
}

/**
 * Marks the start of a training step (the trainer calls it before recording each step). It
 * submits what is pending, so submissions fall at the same places in every step, and lets the pool
 * hand out the previous step's buffers in the same order (pool.ts): a steady step then creates no
 * buffers and no bind groups (engineStats).
 */
export function stepBoundary(): void {
  flush();
  poolStepBoundary();
}

// ---- dispatch profile -------------------------------------------------------------------------
// Software adapters have no timestamp queries, so a profile replays each recorded dispatch alone
// (same pipeline, bind group, parameters and grid), `reps` times in one submit, and times it to
// completion. The replay writes the dispatches' outputs again: run it on a step whose results are
// no longer needed (a benchmark's), never between a step and its use.

interface ProfiledDispatch { kernel: string; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; params: Uint32Array; groups: [number, number, number] }
let profiled: ProfiledDispatch[] | null = null;

/** One kernel's share of a profiled stretch of work. */
export interface KernelProfile {
  /** The kernel's shader key (its specialisation: shapes, variants). */
  kernel: string;
  /** Dispatches of it in the profiled work. */
  count: number;
  /** Estimated GPU milliseconds of all those dispatches (replayed alone; an empty submit's cost subtracted). */
  ms: number;
}

/**
 * Runs `fn` (which records GPU work), then replays every dispatch it recorded alone and returns the
 * time per kernel, largest first (`byGrid`: per kernel, grid and first parameter words, to tell
 * shapes apart). For finding where a step's GPU time goes (benchmarks, tuning);
 * `fn`'s own results are overwritten by the replay, so profile a throwaway step.
 */
export async function profileDispatches(fn: () => void | Promise<void>, o: { reps?: number; byGrid?: boolean } = {}): Promise<KernelProfile[]> {
  const reps = o.reps ?? 5;
  await sync();
  profiled = [];
  let list: ProfiledDispatch[];
  try {
    await fn();
  } finally {
    list = profiled;
    profiled = null;
  }
  await sync();
  const dev = device();
  const time = async (d: ProfiledDispatch | null): Promise<number> => {
    if (d) dev.queue.writeBuffer(arena(), 0, d.params.buffer, d.params.byteOffset, PARAM_SLOT);
    const enc = dev.createCommandEncoder();
    const p = enc.beginComputePass();
    if (d) {
      p.setPipeline(d.pipeline);
      p.setBindGroup(0, d.bindGroup, [0]);
      for (let r = 0; r < reps; r++) p.dispatchWorkgroups(d.groups[0], d.groups[1], d.groups[2]);
    }
    p.end();
    const t0 = performance.now();
    dev.queue.submit([enc.finish()]);
    await settle(dev.queue.onSubmittedWorkDone());
    return performance.now() - t0;
  };
  let empty = Infinity;
  for (let i = 0; i < 5; i++) empty = Math.min(empty, await time(null));
  const by = new Map<string, KernelProfile>();
  for (const d of list) {
    const ms = Math.max(0, (await time(d)) - empty) / reps;
    const key = o.byGrid ? `${d.kernel} [${d.groups.join('x')}] (${[...d.params.slice(0, 8)].join(',')})` : d.kernel;
    const e = by.get(key) ?? { kernel: key, count: 0, ms: 0 };
    e.count++;
    e.ms += ms;
    by.set(key, e);
  }
  checkDeviceHealth();
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

/** Writes CPU data into a buffer (the buffer must come from `acquire(.., forUpload=true)`). */
export function upload(b: Buf, data: ArrayBufferView): void {
  counters.uploads++;
  device().queue.writeBuffer(b.gpu, 0, data.buffer, data.byteOffset, data.byteLength);
}


/** Copies `bytes` from `src` at `offset` back to the CPU. This is a sync point: it submits. */
export async function readback(src: Buf, offset: number, bytes: number): Promise<ArrayBuffer> {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  const list = staging.get(size);
  const st = list?.pop() ?? device().createBuffer({ size, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
  copyBuffer(src, offset, st, 0, Math.ceil(bytes / 4) * 4);
  flush();
  counters.readbacks++;
  await settle(st.mapAsync(1 /* READ */));
  const out = st.getMappedRange(0, Math.ceil(bytes / 4) * 4).slice(0, bytes);
  st.unmap();
  let l = staging.get(size);
  if (!l) staging.set(size, (l = []));
  if (l.length < 4) l.push(st);
  else st.destroy();
  checkDeviceHealth();
  return out;
}

/**
 * Awaits a Dawn promise (a buffer map, queue completion).
 *
 * Node: dawn.node moves its promises by calling the global `setImmediate` in a loop (its
 * AsyncRunner looks the global up at every tick and calls `ProcessEvents`), which holds one CPU
 * core at 100% for the whole wait. On a software adapter that core is one the GPU's own threads
 * need: on lavapipe with 2 cores, 40 [512,512] matmuls took 880-940 ms to `sync()` with the spin
 * and at most 502 ms without it (scratch measurement, same process). So for the length of a wait
 * the global is swapped for one that spins for the first {@link SPIN_MS} ms (short waits, such
 * as a real GPU's readbacks, keep the spin's latency) and then ticks on a 1 ms timer.
 *
 * Deno: a promise from dawn.node (mapAsync after a long queue of work) can otherwise stay pending
 * while the runtime spins; timer turns every millisecond let Dawn's callbacks in.
 */
async function settle<T>(p: Promise<T>): Promise<T> {
  const kind = runtimeKind();
  if (kind === 'deno') {
    let done = false;
    p.then(() => (done = true), () => (done = true));
    while (!done) await new Promise((r) => setTimeout(r, 1));
    return await p;
  }
  if (kind !== 'node') return await p;
  beginWait();
  try {
    return await p;
  } finally {
    endWait();
  }
}

const SPIN_MS = 2;
type Immediate = (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown;
const g = globalThis as { setImmediate?: Immediate };
let waits = 0;
let waitStart = 0;
let nativeImmediate: Immediate | null = null;

function throttledImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]): unknown {
  if (performance.now() - waitStart < SPIN_MS) return nativeImmediate!(fn, ...args);
  return setTimeout(fn, 1, ...args);
}

function beginWait(): void {
  if (waits++ > 0 || !g.setImmediate) return;
  waitStart = performance.now();
  nativeImmediate = g.setImmediate;
  g.setImmediate = throttledImmediate;
}

function endWait(): void {
  if (--waits > 0 || !nativeImmediate) return;
  g.setImmediate = nativeImmediate;
  nativeImmediate = null;
}

/** Waits until the GPU has finished everything submitted (for benchmarks). */
export async function sync(): Promise<void> {
  flush();
  await settle(device().queue.onSubmittedWorkDone());
  checkDeviceHealth();
}

/** Workgroup grid for `n` threads in workgroups of `wg`: spills into y past 65535 groups. */
export function grid(n: number, wg: number): [number, number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= 65535) return [groups, 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

/** WGSL for the linear thread id under `grid` (needs `gid` and `nwg` builtins). */
export const LINEAR_ID = (wg: number) => `gid.x + gid.y * nwg.x * ${wg}u`;
