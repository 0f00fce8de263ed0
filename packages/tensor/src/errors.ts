/** Formats a shape for error messages: `[2,3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** An error raised by kdgpu itself (bad input, bad state); the message says what and how to fix. */
export class KdgpuError extends Error {
  override name = 'KdgpuError';
}
