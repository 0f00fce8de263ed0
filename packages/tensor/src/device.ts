import { envVar, runtimeKind } from './env.ts';
import { KdgpuError } from './errors.ts';

/**
 * One shared GPUDevice for the process.
 *
 * Node reaches Dawn through the npm package `webgpu` (an optional peer dependency: a browser-only
 * consumer never downloads it). Deno uses its own `navigator.gpu` (wgpu): dawn.node under Deno
 * can stall for minutes on a readback after a long queue of work, Deno's own WebGPU does not;
 * `KDGPU_WEBGPU=dawn` makes Deno load Dawn instead (`--node-modules-dir=manual` over an npm
 * install). A browser uses `navigator.gpu`. `KDGPU_ADAPTER` picks an adapter whose
 * description/vendor/architecture/device contains the given text (case-insensitive).
 */

let devicePromise: Promise<GPUDevice> | null = null;
let current: GPUDevice | null = null;
let adapterInfo: { description: string; vendor: string; architecture: string; device: string } | null = null;
let hasF16 = false;
// dawn.node aborts the process (InstanceBase::ProcessEvents) if the object returned by `create()`
// is garbage-collected while a device is alive, so it lives here for the life of the process.
let dawnInstance: GPU | null = null;
let lostReason: string | null = null;
let pendingError: string | null = null;
let pendingOom: string | null = null;
const deviceListeners: Array<(d: GPUDevice) => void> = [];

const NO_ADAPTER_HELP =
  'No WebGPU adapter was found. On Linux without a GPU, install a software Vulkan driver: ' +
  'Mesa lavapipe >= 24 (Debian 12: `bash scripts/setup-webgpu.sh` installs mesa-vulkan-drivers and ' +
  'libvulkan1 from bookworm-backports; Debian 12\'s own Mesa 22 is too old for Dawn). With a GPU, ' +
  'install its Vulkan driver. Set KDGPU_ADAPTER to choose among several adapters.';

async function loadGpu(): Promise<GPU> {
  const kind = runtimeKind();
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const choice = envVar('KDGPU_WEBGPU');
  if (choice !== undefined && choice !== '' && choice !== 'native' && choice !== 'dawn') {
    throw new KdgpuError(`KDGPU_WEBGPU="${choice}" is not a choice: use "native" (the runtime's navigator.gpu) or "dawn" (the npm package webgpu), or unset it.`);
  }
  const native = kind === 'browser' || (kind === 'deno' && choice !== 'dawn') || (kind === 'node' && choice === 'native');
  if (native) {
    if (!nav?.gpu) {
      throw new KdgpuError(
        kind === 'browser'
          ? 'navigator.gpu is missing: this browser has no WebGPU (Chrome/Edge 113+, or enable it; Chromium on Linux needs --enable-unsafe-webgpu --enable-features=Vulkan).'
          : kind === 'deno'
            ? 'Deno has no navigator.gpu here (older Deno versions need --unstable-webgpu); or set KDGPU_WEBGPU=dawn to load Dawn from an npm install (with --node-modules-dir=manual).'
            : 'KDGPU_WEBGPU=native but this Node has no navigator.gpu; unset KDGPU_WEBGPU to use Dawn (npm install webgpu).',
      );
    }
    return nav.gpu;
  }
  if (!envVar('XDG_RUNTIME_DIR') && kind === 'node') {
    // Mesa prints an error line at start without it; any writable directory silences it.
    (globalThis as { process?: { env: Record<string, string> } }).process!.env.XDG_RUNTIME_DIR = '/tmp';
  }
  // The specifier is a variable so browser bundlers leave Dawn's native module out.
  const spec = 'webgpu';
  let mod: { create(opts: string[]): GPU; globals: Record<string, unknown> };
  try {
    mod = await import(spec);
  } catch (e) {
    // `webgpu` is an optional peer dependency of @kdgpu/tensor, so a plain install lacks it.
    throw new KdgpuError(
      `@kdgpu/tensor needs the npm package "webgpu" (Dawn's bindings) to reach the GPU outside a browser, ` +
        `and it could not be loaded: ${(e as Error).message}. Install it with \`npm install webgpu\`` +
        (kind === 'deno' ? ' and run Deno with --node-modules-dir=manual, or unset KDGPU_WEBGPU to use Deno\'s own WebGPU.' : '.'),
    );
  }
  // GPUBufferUsage and friends are globals in a browser; Dawn exports them.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  dawnInstance = mod.create([]);
  return dawnInstance;
}

function describe(info: GPUAdapterInfo): string {
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
}

async function pickAdapter(gpu: GPU): Promise<GPUAdapter> {
  const want = envVar('KDGPU_ADAPTER')?.toLowerCase();
  const candidates: GPUAdapter[] = [];
  for (const powerPreference of ['high-performance', 'low-power'] as const) {
    const a = await gpu.requestAdapter({ powerPreference });
    if (a) candidates.push(a);
  }
  const fallback = await gpu.requestAdapter({ forceFallbackAdapter: true }).catch(() => null);
  if (fallback) candidates.push(fallback);
  if (candidates.length === 0) throw new KdgpuError(NO_ADAPTER_HELP);
  if (!want) return candidates[0];
  const hit = candidates.find((a) => describe(a.info).toLowerCase().includes(want));
  if (!hit) {
    const names = [...new Set(candidates.map((a) => describe(a.info)))].join('; ');
    throw new KdgpuError(`KDGPU_ADAPTER="${want}" matches no adapter; available: ${names}`);
  }
  return hit;
}

async function createDevice(): Promise<GPUDevice> {
  const gpu = await loadGpu();
  const adapter = await pickAdapter(gpu);
  const features: GPUFeatureName[] = [];
  if (adapter.features.has('shader-f16')) features.push('shader-f16');
  if (adapter.features.has('timestamp-query')) features.push('timestamp-query');
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  hasF16 = device.features.has('shader-f16');
  const info = adapter.info;
  adapterInfo = { description: info.description, vendor: info.vendor, architecture: info.architecture, device: info.device };
  device.lost.then((e) => {
    lostReason = `${e.reason}: ${e.message}`;
    if (current === device) current = null;
    devicePromise = null;
  });
  if (runtimeKind() === 'deno' && gpu !== dawnInstance) {
    // Deno's WebGPU on lavapipe: tearing the process down with the device alive aborted ~7% of
    // runs at exit with glibc's "corrupted size vs. prev_size" (after every test had passed);
    // destroying the device first at unload lets wgpu release it in order.
    (globalThis as { addEventListener?: (type: string, f: () => void) => void }).addEventListener?.('unload', () => device.destroy());
  }
  device.addEventListener('uncapturederror', (ev) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    pendingError ??= `${err.constructor?.name ?? 'GPUError'}: ${err.message}`;
  });
  return device;
}

/** Returns the process-wide GPUDevice, creating it on first use. */
export async function getDevice(): Promise<GPUDevice> {
  if (current) return current;
  devicePromise ??= createDevice().then((d) => {
    current = d;
    lostReason = null;
    for (const f of deviceListeners) f(d);
    return d;
  }, (e) => {
    devicePromise = null;
    throw e;
  });
  return devicePromise;
}

/** Uses a device the caller created (for example a page that already has one). */
export function setDevice(device: GPUDevice): void {
  current = device;
  hasF16 = device.features.has('shader-f16');
  devicePromise = Promise.resolve(device);
  for (const f of deviceListeners) f(device);
}

/**
 * The device, synchronously. Tensor ops are synchronous (they only record GPU commands), so the
 * device must have been created first with `await getDevice()` (or `await init()`).
 */
export function device(): GPUDevice {
  checkDeviceHealth();
  if (!current) {
    throw new KdgpuError('no GPU device yet: call `await getDevice()` (or `await init()`) once before creating tensors');
  }
  return current;
}

/** Throws if the device was lost or an uncaptured WebGPU error happened since the last check. */
export function checkDeviceHealth(): void {
  if (lostReason) {
    throw new KdgpuError(`the GPU device was lost (${lostReason}); tensors on it are gone. Restart from the last checkpoint.`);
  }
  if (pendingOom) {
    // Reported first: the validation errors that follow (ops on the invalid buffer) are its consequence.
    const msg = pendingOom;
    pendingOom = null;
    pendingError = null;
    throw new KdgpuError(msg);
  }
  if (pendingError) {
    const msg = pendingError;
    pendingError = null;
    throw new KdgpuError(`a WebGPU error occurred in an earlier GPU command: ${msg}`);
  }
}

/** Records a failed GPU allocation (pool.ts); the next health check throws `message`. */
export function reportOutOfMemory(message: string): void {
  pendingOom ??= message;
}

/** Called with each new device (the engine resets its caches). */
export function onDevice(f: (d: GPUDevice) => void): void {
  deviceListeners.push(f);
}

/** A short description of the adapter in use, e.g. `mesa llvmpipe ...`. */
export function adapterName(): string {
  if (!adapterInfo) return 'unknown (no device yet)';
  return [adapterInfo.vendor, adapterInfo.architecture, adapterInfo.device, adapterInfo.description].filter(Boolean).join(' ');
}

/** Whether the adapter runs shaders on the CPU (lavapipe/llvmpipe, SwiftShader, WARP). */
export function isCpuAdapter(): boolean {
  return /llvmpipe|lavapipe|swiftshader|warp|software/i.test(adapterName());
}

/** Whether the device has `shader-f16` (f16 storage will build on it). */
export function supportsF16(): boolean {
  return hasF16;
}

/** Keeps a reference so tests can assert it is held (see dawnInstance above). */
export function _dawnInstance(): GPU | null {
  return dawnInstance;
}
