/**
 * A small reader for R's serialization format (`saveRDS`, `save`, and the lazy-load databases
 * `*.rdb`/`*.rdx` that R packages install their `data/` into), enough to pull character vectors
 * out of a package without R. Used once, by `build-corpus.ts`, to read Jane Austen's novels from
 * Debian's `r-cran-janeaustenr`; kept here so the committed corpus can be rebuilt.
 *
 * Covers the XDR ("X\n") binary format, versions 2 and 3, and the value types plain data uses:
 * NULL, symbols, pairlists, character/logical/integer/double/complex/raw vectors, lists, and
 * environments and references (so a lazy-load index decodes). Closures, bytecode, ALTREP and
 * external pointers are rejected with an error naming the type.
 *
 * Lazy-load database (R's `makeLazyLoadDB`): `<name>.rdx` is a compressed serialized list with
 * `variables` (object name → c(offset, length) into the `.rdb`), `references` and `compressed`.
 * Each `.rdb` record is a 4-byte big-endian uncompressed length, then a compressed stream: zlib
 * by default; a type byte `'2'` (bzip2), `'Z'` (xz) or `'0'` (none) after the length for the other
 * `compress=` settings. Only zlib and none are supported here (fflate has no bzip2/xz), which is
 * what R uses unless a package asks otherwise (janeaustenr 1.0.0 in Debian uses zlib).
 * @module
 */
import { gunzipSync, unzlibSync } from 'fflate';

/** A decoded R value. Attributes (names, class, ...) are kept as a name → value map. */
export type RValue =
  | null
  | { type: 'symbol'; name: string }
  | { type: 'character'; values: (string | null)[]; attributes?: Record<string, RValue> }
  | { type: 'logical' | 'integer'; values: (number | null)[]; attributes?: Record<string, RValue> }
  | { type: 'double'; values: number[]; attributes?: Record<string, RValue> }
  | { type: 'complex'; values: [number, number][]; attributes?: Record<string, RValue> }
  | { type: 'raw'; values: Uint8Array; attributes?: Record<string, RValue> }
  | { type: 'list'; values: RValue[]; attributes?: Record<string, RValue> }
  | { type: 'pairlist'; entries: { tag: string | null; value: RValue }[]; attributes?: Record<string, RValue> }
  | { type: 'environment'; frame: Record<string, RValue> }
  | { type: 'special'; name: string };

const NA_INT = -2147483648;

const SXP = {
  NIL: 0, SYM: 1, LIST: 2, CLO: 3, ENV: 4, PROM: 5, LANG: 6, SPECIAL: 7, BUILTIN: 8, CHAR: 9,
  LGL: 10, INT: 13, REAL: 14, CPLX: 15, STR: 16, DOT: 17, ANY: 18, VEC: 19, EXPR: 20, BCODE: 21,
  EXTPTR: 22, WEAKREF: 23, RAW: 24, S4: 25,
  ALTREP: 238, ATTRLIST: 239, ATTRLANG: 240, BASEENV: 241, EMPTYENV: 242, BCREPREF: 243,
  BCREPDEF: 244, GENERICREF: 245, CLASSREF: 246, PERSIST: 247, PACKAGE: 248, NAMESPACE: 249,
  BASENAMESPACE: 250, MISSINGARG: 251, UNBOUNDVALUE: 252, GLOBALENV: 253, NILVALUE: 254, REF: 255,
} as const;

class Reader {
  private pos = 0;
  private readonly view: DataView;
  readonly refs: RValue[] = [];
  private readonly utf8 = new TextDecoder('utf-8');
  private readonly latin1 = new TextDecoder('latin1');

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  int(): number {
    const v = this.view.getInt32(this.pos, false);
    this.pos += 4;
    return v;
  }

  double(): number {
    const v = this.view.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }

  raw(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) throw new Error('R unserialize: truncated input');
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  length(): number {
    const n = this.int();
    if (n !== -1) return n;
    const hi = this.int();
    const lo = this.int();
    return hi * 2 ** 32 + (lo >>> 0);
  }

  header(): void {
    const magic = this.raw(2);
    if (magic[0] !== 0x58 || magic[1] !== 0x0a) {
      throw new Error('R unserialize: only the XDR binary format ("X\\n") is supported');
    }
    const version = this.int();
    this.int(); // writer R version
    this.int(); // minimal reader R version
    if (version === 3) this.raw(this.int()); // native encoding name
    else if (version !== 2) throw new Error(`R unserialize: unsupported format version ${version}`);
  }

  /** A CHARSXP body after its flags: length (-1 = NA) and bytes, decoded by its encoding bits. */
  charsxp(flags: number): string | null {
    const n = this.int();
    if (n === -1) return null;
    const b = this.raw(n);
    const levels = flags >>> 12;
    const LATIN1 = 1 << 2;
    return levels & LATIN1 ? this.latin1.decode(b) : this.utf8.decode(b);
  }

  attributes(): Record<string, RValue> {
    const a = this.item();
    const out: Record<string, RValue> = {};
    if (a !== null && a.type === 'pairlist') for (const e of a.entries) out[e.tag ?? ''] = e.value;
    return out;
  }

  item(): RValue {
    const flags = this.int();
    const type = flags & 0xff;
    const hasAttr = (flags & (1 << 9)) !== 0;
    switch (type) {
      case SXP.NILVALUE:
        return null;
      case SXP.EMPTYENV: case SXP.BASEENV: case SXP.GLOBALENV: case SXP.UNBOUNDVALUE:
      case SXP.MISSINGARG: case SXP.BASENAMESPACE:
        return { type: 'special', name: String(type) };
      case SXP.REF: {
        const i = (flags >> 8) === 0 ? this.int() : flags >> 8;
        return this.refs[i - 1] ?? null;
      }
      case SXP.PERSIST: {
        const v = this.item(); // a character vector naming the persistent object
        const r: RValue = { type: 'special', name: `persist:${JSON.stringify(v)}` };
        this.refs.push(r);
        return r;
      }
      case SXP.SYM: {
        const f = this.int();
        if ((f & 0xff) !== SXP.CHAR) throw new Error(`R unserialize: symbol name of type ${f & 0xff}`);
        const r: RValue = { type: 'symbol', name: this.charsxp(f) ?? 'NA' };
        this.refs.push(r);
        return r;
      }
      case SXP.PACKAGE: case SXP.NAMESPACE: {
        this.int(); // 0
        const v = this.strVector();
        const r: RValue = { type: 'special', name: `${type === SXP.PACKAGE ? 'package' : 'namespace'}:${v.join(',')}` };
        this.refs.push(r);
        return r;
      }
      case SXP.ENV: {
        const env: { type: 'environment'; frame: Record<string, RValue> } = { type: 'environment', frame: {} };
        this.refs.push(env);
        this.int(); // locked
        this.item(); // enclosure
        const frame = this.item();
        const hashtab = this.item();
        this.item(); // attributes
        const add = (p: RValue): void => {
          if (p !== null && p.type === 'pairlist') for (const e of p.entries) env.frame[e.tag ?? ''] = e.value;
        };
        add(frame);
        if (hashtab !== null && hashtab.type === 'list') for (const b of hashtab.values) add(b);
        return env;
      }
      case SXP.LIST: case SXP.LANG: case SXP.DOT: case SXP.ATTRLIST: case SXP.ATTRLANG: {
        // Pairlists are read iteratively along the CDR chain.
        const entries: { tag: string | null; value: RValue }[] = [];
        let attributes: Record<string, RValue> | undefined;
        let f = flags;
        for (;;) {
          const t = f & 0xff;
          if (t === SXP.NILVALUE) break;
          if (t !== SXP.LIST && t !== SXP.LANG && t !== SXP.DOT && t !== SXP.ATTRLIST && t !== SXP.ATTRLANG) {
            throw new Error(`R unserialize: unsupported pairlist tail type ${t}`);
          }
          const a = (f & (1 << 9)) !== 0 ? this.attributes() : undefined;
          if (attributes === undefined) attributes = a;
          let tag: string | null = null;
          if ((f & (1 << 10)) !== 0) {
            const s = this.item();
            tag = s !== null && s.type === 'symbol' ? s.name : null;
          }
          entries.push({ tag, value: this.item() });
          f = this.int();
        }
        return attributes ? { type: 'pairlist', entries, attributes } : { type: 'pairlist', entries };
      }
      case SXP.LGL: case SXP.INT: {
        const n = this.length();
        const values: (number | null)[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const v = this.int();
          values[i] = v === NA_INT ? null : v;
        }
        return this.withAttr({ type: type === SXP.LGL ? 'logical' : 'integer', values }, hasAttr);
      }
      case SXP.REAL: {
        const n = this.length();
        const values: number[] = new Array(n);
        for (let i = 0; i < n; i++) values[i] = this.double();
        return this.withAttr({ type: 'double', values }, hasAttr);
      }
      case SXP.CPLX: {
        const n = this.length();
        const values: [number, number][] = new Array(n);
        for (let i = 0; i < n; i++) values[i] = [this.double(), this.double()];
        return this.withAttr({ type: 'complex', values }, hasAttr);
      }
      case SXP.RAW: {
        const n = this.length();
        return this.withAttr({ type: 'raw', values: this.raw(n).slice() }, hasAttr);
      }
      case SXP.STR: {
        const values = this.strVectorBody();
        return this.withAttr({ type: 'character', values }, hasAttr);
      }
      case SXP.VEC: case SXP.EXPR: {
        const n = this.length();
        const values: RValue[] = new Array(n);
        for (let i = 0; i < n; i++) values[i] = this.item();
        return this.withAttr({ type: 'list', values }, hasAttr);
      }
      default:
        throw new Error(`R unserialize: unsupported SEXP type ${type}`);
    }
  }

  private withAttr<T extends Extract<RValue, { attributes?: unknown }>>(v: T, hasAttr: boolean): T {
    if (hasAttr) v.attributes = this.attributes();
    return v;
  }

  /** The elements of a STRSXP after its flags. */
  strVectorBody(): (string | null)[] {
    const n = this.length();
    const out: (string | null)[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const f = this.int();
      if ((f & 0xff) !== SXP.CHAR) throw new Error(`R unserialize: expected CHARSXP, got type ${f & 0xff}`);
      out[i] = this.charsxp(f);
    }
    return out;
  }

  /** A whole STRSXP item (flags included), as used by PACKAGESXP/NAMESPACESXP/PERSISTSXP. */
  strVector(): (string | null)[] {
    const f = this.int();
    if ((f & 0xff) !== SXP.STR) throw new Error('R unserialize: expected a character vector');
    return this.strVectorBody();
  }
}

/**
 * Decodes one serialized R object (the bytes after any gzip/zlib layer: `X\n` + header + item).
 * Accepts gzip-wrapped input too (an `.rds` file as saved by default).
 */
export function unserializeR(bytes: Uint8Array): RValue {
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const r = new Reader(raw);
  r.header();
  return r.item();
}

/** A name → value view of an R list or pairlist with names (e.g. a lazy-load index). */
export function namedEntries(v: RValue): Record<string, RValue> {
  const out: Record<string, RValue> = {};
  if (v === null) return out;
  if (v.type === 'pairlist') {
    for (const e of v.entries) out[e.tag ?? ''] = e.value;
  } else if (v.type === 'list') {
    const names = v.attributes?.['names'];
    if (names && names !== null && names.type === 'character') {
      v.values.forEach((x, i) => { out[names.values[i] ?? ''] = x; });
    }
  }
  return out;
}

/** Every object of an R lazy-load database (`<db>.rdx` + `<db>.rdb`), by name. */
export function readLazyLoadDB(rdx: Uint8Array, rdb: Uint8Array): Record<string, RValue> {
  const index = namedEntries(unserializeR(inflateRecord(rdx, 0, rdx.length, true)));
  const vars = namedEntries(index['variables'] ?? null);
  const out: Record<string, RValue> = {};
  for (const [name, pos] of Object.entries(vars)) {
    if (pos === null || (pos.type !== 'integer' && pos.type !== 'double')) continue;
    const [off, len] = pos.values as number[];
    out[name] = unserializeR(inflateRecord(rdb, off!, len!, false));
  }
  return out;
}

/** One lazy-load record: 4-byte big-endian size, an optional type byte, then the stream. */
function inflateRecord(buf: Uint8Array, off: number, len: number, maybeGzip: boolean): Uint8Array {
  const rec = buf.subarray(off, off + len);
  if (maybeGzip && rec[0] === 0x1f && rec[1] === 0x8b) return gunzipSync(rec);
  const size = new DataView(rec.buffer, rec.byteOffset, rec.byteLength).getUint32(0, false);
  const type = rec[4];
  let out: Uint8Array;
  if (type === 0x78) out = unzlibSync(rec.subarray(4)); // zlib header: plain compress=TRUE
  else if (type === 0x30) out = rec.subarray(5); // '0': stored
  else if (type === 0x32 || type === 0x5a) {
    throw new Error(`R lazy-load: ${type === 0x32 ? 'bzip2' : 'xz'} records are not supported (zlib only)`);
  } else out = unzlibSync(rec.subarray(4));
  if (out.length !== size) throw new Error(`R lazy-load: record size ${out.length} ≠ ${size}`);
  return out;
}
