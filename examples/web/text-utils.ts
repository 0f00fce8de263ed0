/**
 * Text helpers of the page: word counts, the train/validation split, and number formatting.
 * @module
 */

/** Whitespace-separated words, as BabyLM counts them. */
export function countWords(s: string): number {
  return s.match(/\S+/g)?.length ?? 0;
}

/** Train/validation split: every 10th paragraph held out (the last 10% when there are few). */
export function splitText(body: string): { train: string; eval: string } {
  const paras = body.split(/\n[ \t]*\n/).filter((p) => p.trim() !== '');
  if (paras.length >= 20) {
    return {
      train: paras.filter((_, i) => i % 10 !== 9).join('\n\n'),
      eval: paras.filter((_, i) => i % 10 === 9).join('\n\n'),
    };
  }
  const cut = Math.floor(body.length * 0.9);
  const at = body.lastIndexOf('\n', cut);
  const i = at > body.length * 0.5 ? at : cut;
  return { train: body.slice(0, i), eval: body.slice(i) };
}

/** `12345.6` → `12,346`. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A loss with 3 decimals, or `n/a`. */
export function fmtLoss(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(3);
}

/** Bytes in binary units: `681984` → `666.0 KiB`. */
export function fmtBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1024 ** 2) return `${(b / 1024).toFixed(1)} KiB`;
  if (b < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(1)} MiB`;
  return `${(b / 1024 ** 3).toFixed(2)} GiB`;
}
