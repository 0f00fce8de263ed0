/**
 * GPT-2's byte-to-character table. Byte-level BPE works on bytes, but vocabularies are stored as
 * JSON strings, so every byte is shown as a printable character: bytes that already are printable
 * Latin-1 stand for themselves, the other 68 take the code points from U+0100 upward, in order.
 * A space (0x20) becomes `Ġ` (U+0120) and a newline `Ċ` (U+010A).
 */

/** Code point standing for each byte value, indexed by byte (0..255). */
export const BYTE_TO_CP: Int32Array = /* @__PURE__ */ buildByteToCp();

/** Byte value for a byte-level code point (indexed by code point < 324), or -1. */
export const CP_TO_BYTE: Int16Array = /* @__PURE__ */ buildCpToByte();

/** The byte-level character for each byte, as a one-character string. */
export const BYTE_TO_CHAR: readonly string[] = Array.from(BYTE_TO_CP, (cp) => String.fromCharCode(cp));

/**
 * Length in UTF-8 bytes of each byte's byte-level character (1 below U+0080, else 2). Hugging Face
 * measures token offsets inside a word in these units, so the encoder needs them to reproduce its
 * offsets exactly.
 */
export const BYTE_CHAR_UTF8_LEN: Uint8Array = Uint8Array.from(BYTE_TO_CP, (cp) => (cp < 0x80 ? 1 : 2));

function buildByteToCp(): Int32Array {
  const out = new Int32Array(256).fill(-1);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = printable(b) ? b : next++;
  return out;
}

function buildCpToByte(): Int16Array {
  const out = new Int16Array(324).fill(-1);
  for (let b = 0; b < 256; b++) out[BYTE_TO_CP[b]!] = b;
  return out;
}

/**
 * The 256 byte-level characters, sorted by code point. Pass it as `initialAlphabet` so a trained
 * vocabulary can spell any byte, and so encode/decode round-trips arbitrary Unicode.
 */
export function byteLevelAlphabet(): string[] {
  return Array.from(BYTE_TO_CP)
    .sort((a, b) => a - b)
    .map((cp) => String.fromCharCode(cp));
}

/**
 * Writes the UTF-8 bytes of `text[start, end)` into `out` (which must hold 3 bytes per UTF-16
 * unit) and returns the byte count. The text must be well-formed UTF-16 (checked by callers once,
 * up front), so surrogates always come in pairs here.
 */
export function utf8Encode(text: string, start: number, end: number, out: Uint8Array): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 63);
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < end) {
      c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      out[n++] = 0xf0 | (c >> 18);
      out[n++] = 0x80 | ((c >> 12) & 63);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    } else {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}

/** Maps a string of bytes to its byte-level spelling (`" hi"` -> `"Ġhi"`). */
export function bytesToByteLevel(bytes: Uint8Array, length = bytes.length): string {
  let s = "";
  for (let i = 0; i < length; i++) s += BYTE_TO_CHAR[bytes[i]!];
  return s;
}

/** Byte-level spelling of a text's UTF-8 bytes. */
export function textToByteLevel(text: string): string {
  const buf = new Uint8Array(text.length * 3);
  return bytesToByteLevel(buf, utf8Encode(text, 0, text.length, buf));
}

/**
 * Appends the bytes a token stands for to `out`: each byte-level character gives its byte; a token
 * holding any other character (an added token such as `<s>` typed with non-byte-level characters)
 * gives its UTF-8 bytes as-is, as Hugging Face's ByteLevel decoder does.
 */
export function byteLevelTokenBytes(token: string, out: number[]): void {
  const mark = out.length;
  for (let i = 0; i < token.length; i++) {
    const cp = token.charCodeAt(i);
    const b = cp < 324 ? CP_TO_BYTE[cp]! : -1;
    if (b < 0) {
      out.length = mark;
      const buf = new Uint8Array(token.length * 3);
      const n = utf8Encode(token, 0, token.length, buf);
      for (let j = 0; j < n; j++) out.push(buf[j]!);
      return;
    }
    out.push(b);
  }
}
