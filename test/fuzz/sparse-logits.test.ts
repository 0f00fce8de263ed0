/**
 * Fuzzing sparse teacher-logits files (footer and deflated records) and the vLLM `prompt_logprobs`
 * reader (response lines): a mutated input is read and every block decodes to in-vocabulary,
 * distinct ids with probabilities summing to 1, or it fails with the reader's own error naming the
 * file or line; sizes claimed inside the input are bounded before anything is allocated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'fflate';
import { crc32, encodeSparseBlock, LOGPROB_STEP, parseVllmLine, SPARSE_MAGIC, sparseFooterBytes, topKRows, type SparseFooter, vllmBlock } from '@kdgpu/train';
import { SparseLogitsFile } from '@kdgpu/train/node';
import { tokenizerFromJson } from '@kdgpu/tokenizer';
import { assertCoverage, fuzz, mutateBytes, mutateJson, mutateJsonText, type Rng, summary } from './fuzz.ts';

const dir = mkdtempSync(join(tmpdir(), 'kdgpu-fuzz-sparse-'));
const path = join(dir, 'teacher.sparse');
test.after(() => rmSync(dir, { recursive: true, force: true }));

function assemble(records: Uint8Array[], footer: Omit<SparseFooter, 'records'> | Record<string, unknown>, recs?: unknown): Uint8Array {
  const parts: Uint8Array[] = [SPARSE_MAGIC];
  let off = SPARSE_MAGIC.byteLength;
  const index: Array<[number, number, number]> = [];
  for (const r of records) {
    index.push([off, r.byteLength, crc32(r)]);
    parts.push(r);
    off += r.byteLength;
  }
  parts.push(sparseFooterBytes({ ...footer, records: recs ?? index } as SparseFooter));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

function validFile(r: Rng): { records: Uint8Array[]; footer: Omit<SparseFooter, 'records'> } {
  // Now and then a vocabulary past 65536 (3-byte ids), kept short: building its blocks is the slow part.
  const V = r.chance(0.1) ? 70000 : r.pick([5, 40, 300]);
  const T = V > 300 ? 1 + r.int(2) : 1 + r.int(8);
  const K = 1 + r.int(Math.min(V, 12));
  const records = Array.from({ length: V > 300 ? 1 : 1 + r.int(4) }, () => {
    const rows = Float32Array.from({ length: T * V }, () => (r.next() - 0.5) * 12);
    return encodeSparseBlock(topKRows(rows, T, V, K), T, V);
  });
  return { records, footer: { version: 1, format: 'sparse-topk', vocabSize: V, blockSize: T, topK: K, logProbStep: LOGPROB_STEP, source: 'teachers', tokensKey: '0123456789abcdef', tokenizerKey: 'fedcba9876543210' } };
}

function fileInput(r: Rng): Uint8Array {
  const p = validFile(r);
  switch (r.int(5)) {
    case 0:
      return assemble(p.records, p.footer);
    case 1: {
      // The footer mutated as JSON (records index included), the records intact.
      const whole = { ...p.footer, records: [] as unknown[] };
      const m = mutateJson(whole, r);
      return assemble(p.records, m !== null && typeof m === 'object' && !Array.isArray(m) ? (m as Record<string, unknown>) : { m }, (m as { records?: unknown })?.records);
    }
    case 2: {
      // A record replaced by other deflate data with a matching CRC: a bomb, garbage, bytes of the wrong length.
      const T = p.footer.blockSize;
      const raw = r.pick([new Uint8Array(r.pick([1, 4 * T - 1, 256 << 10])), r.bytes(4 * T + 3 * r.int(9)), new Uint8Array(4 * T).fill(0xff)]);
      p.records[r.int(p.records.length)] = r.chance(0.8) ? deflateSync(raw) : r.bytes(1 + r.int(64));
      return assemble(p.records, p.footer);
    }
    default: {
      const file = assemble(p.records, p.footer);
      return mutateBytes(file, r, [file.byteLength - 12, file.byteLength - 8, 8]);
    }
  }
}

function readFile(bytes: Uint8Array): void {
  writeFileSync(path, bytes);
  const f = new SparseLogitsFile(path);
  try {
    const { blockSize: T, vocabSize: V, topK: K } = f.footer;
    for (let i = 0; i < f.length; i++) {
      const b = f.block(i);
      assert.equal(b.counts.length, T);
      let o = 0;
      for (let t = 0; t < T; t++) {
        assert.ok(b.counts[t]! <= K);
        const ids = new Set<number>();
        let mass = Math.exp(b.tail[t]!);
        for (let j = 0; j < b.counts[t]!; j++, o++) {
          assert.ok(b.ids[o]! >= 0 && b.ids[o]! < V && !ids.has(b.ids[o]!));
          ids.add(b.ids[o]!);
          mass += Math.exp(b.logProbs[o]!);
        }
        assert.ok(Math.abs(mass - 1) <= 1e-3);
      }
    }
  } finally {
    f.close();
  }
}

test('sparse logits: mutated files decode to valid distributions or fail naming the file', async () => {
  const rep = await fuzz('sparse logits', {
    input: fileInput,
    run: readFile,
    expected: (e) => /^sparse logits[: ]/.test(e.message) && !(e instanceof assert.AssertionError),
  });
  console.log(summary('sparse logits', rep));
  assertCoverage(rep);
});

const fx = (f: string) => fileURLToPath(new URL(`../../packages/train/test/fixtures/vllm/${f}`, import.meta.url));
const tok = tokenizerFromJson(readFileSync(fx('tokenizer.json'), 'utf8'));
const lines = [...readFileSync(fx('responses.jsonl'), 'utf8').trim().split('\n'), ...readFileSync(fx('run-batch.jsonl'), 'utf8').trim().split('\n')];

function lineInput(r: Rng): string {
  const line = r.pick(lines);
  switch (r.int(3)) {
    case 0:
      return mutateJsonText(line, r, 10_000);
    case 1:
      return JSON.stringify(mutateJson(JSON.parse(line), r));
    default: {
      // One prompt_logprobs entry mutated (the part a server fills in).
      const j = JSON.parse(line);
      const choice = (j.response?.body ?? j).choices[0];
      const pl = choice.prompt_logprobs as unknown[];
      const i = r.int(pl.length);
      pl[i] = mutateJson(pl[i], r);
      return JSON.stringify(j);
    }
  }
}

function readLine(text: string): void {
  const resp = parseVllmLine(text, 'fuzz.jsonl line 1');
  const T = 8;
  if (resp.promptIds.length < T) return;
  const b = vllmBlock(resp, resp.promptIds.slice(0, T), resp.promptIds[T], { topK: 5, vocabSize: 300, tokenizer: tok, where: 'fuzz.jsonl line 1', block: 0 });
  let o = 0;
  for (let t = 0; t < T; t++) {
    let mass = Math.exp(b.tail[t]!);
    for (let j = 0; j < b.counts[t]!; j++, o++) {
      assert.ok(b.ids[o]! >= 0 && b.ids[o]! < 300 && b.logProbs[o]! <= 0);
      mass += Math.exp(b.logProbs[o]!);
    }
    assert.ok(b.counts[t]! <= 5 && Math.abs(mass - 1) <= 1e-3, `position ${t}: mass ${mass}`);
  }
}

test('vLLM logits: mutated response lines become valid blocks or fail naming the line and field', async () => {
  const rep = await fuzz('vllm logits', {
    input: lineInput,
    run: readLine,
    expected: (e) => /^vllm logits: fuzz\.jsonl line 1: /.test(e.message) && !(e instanceof assert.AssertionError),
    sizeOf: (s) => s.length,
  });
  console.log(summary('vllm logits', rep));
  assertCoverage(rep);
});
