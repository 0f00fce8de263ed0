/**
 * Offsets of the tokens of one piece, in the normalized text. Hugging Face computes them from the
 * model's units (bytes of byte-level characters, or characters) and maps units back to the
 * characters they came from; an inserted prefix space takes the position of the character after it.
 */
import { BYTE_CHAR_UTF8_LEN, utf8Encode } from "./byte-level.ts";
import type { WordTokens } from "./bpe-model.ts";

/** Receives the normalized range `[start, end)` of each token, in order. */
export type RangeSink = (start: number, end: number) => void;

const scratch = new Uint8Array(4);

/**
 * Reports where each token of `wt` lies in the normalized text `s`, for a piece whose first real
 * character is at `a` in `s` (`piece` starts with an inserted space when `prefixed`).
 */
export function pieceTokenRanges(s: string, a: number, piece: string, prefixed: boolean, byteLevel: boolean, wt: WordTokens, out: RangeSink): void {
  const shift = prefixed ? a - 1 : a;
  // The inserted space stands for the character it precedes.
  const firstEnd = a + (isHigh(s.charCodeAt(a)) ? 2 : 1);
  const startOf = (j: number) => (prefixed && j === 0 ? a : shift + j);
  const endOf = (j: number, w: number) => (prefixed && j === 0 ? firstEnd : shift + j + w);
  const { ends } = wt;
  const n = ends.length;
  if (wt.simple) {
    let u0 = 0;
    for (let k = 0; k < n; k++) {
      const u1 = ends[k]!;
      out(startOf(u0), endOf(u1 - 1, 1));
      u0 = u1;
    }
    return;
  }
  // Unit tables: the piece index and width of each unit's character, and its byte length.
  const uChar: number[] = [];
  const uW: number[] = [];
  const uNb: number[] = [];
  for (let j = 0; j < piece.length; ) {
    const w = isHigh(piece.charCodeAt(j)) ? 2 : 1;
    const nbytes = utf8Encode(piece, j, j + w, scratch);
    if (byteLevel) {
      for (let b = 0; b < nbytes; b++) {
        uChar.push(j);
        uW.push(w);
        uNb.push(BYTE_CHAR_UTF8_LEN[scratch[b]!]!);
      }
    } else {
      uChar.push(j);
      uW.push(w);
      uNb.push(nbytes);
    }
    j += w;
  }
  if (wt.byUnits) {
    let u0 = 0;
    for (let k = 0; k < n; k++) {
      const u1 = ends[k]!;
      out(startOf(uChar[u0]!), endOf(uChar[u1 - 1]!, uW[u1 - 1]!));
      u0 = u1;
    }
    return;
  }
  // HF's running byte count skips dropped characters, so a count can land on any unit: find the
  // unit holding the first and the last byte of each token, as HF's alignment lookup does.
  let u = 0;
  let unitStart = 0;
  const unitAt = (pos: number): number => {
    while (u + 1 < uNb.length && unitStart + uNb[u]! <= pos) unitStart += uNb[u++]!;
    return u;
  };
  let nb0 = 0;
  for (let k = 0; k < n; k++) {
    const nb1 = ends[k]!;
    const first = unitAt(nb0);
    const last = unitAt(nb1 - 1);
    out(startOf(uChar[first]!), endOf(uChar[last]!, uW[last]!));
    nb0 = nb1;
  }
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c < 0xdc00;
}
