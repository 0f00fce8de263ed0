/**
 * Reads configuration variables in Node, Deno and the browser without importing `node:process`,
 * so this package bundles for a browser tab unchanged. In a browser there is no environment:
 * every variable reads as undefined.
 */
export function envVar(name: string): string | undefined {
  const g = globalThis as {
    process?: { env?: Record<string, string | undefined> };
    Deno?: { env?: { get(name: string): string | undefined } };
  };
  try {
    if (g.Deno?.env) return g.Deno.env.get(name);
  } catch {
    // Deno without --allow-env throws; treat the variable as unset.
    return undefined;
  }
  return g.process?.env?.[name];
}

/** Which JS runtime we are in, for choosing how to reach WebGPU. */
export function runtimeKind(): 'deno' | 'node' | 'browser' {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno) return 'deno';
  if (g.process?.versions?.node) return 'node';
  return 'browser';
}
