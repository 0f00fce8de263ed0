/**
 * GPT-2's real vocabulary as a Hugging Face `tokenizer.json`, rebuilt from the BPE ranks shipped in
 * `js-tiktoken` (a dev dependency): a token's id is its rank, and its merge is the split that
 * byte-pair merging with lower ranks reaches. Used to check loading a GPT-2 file, and by the bench.
 */
import gpt2 from "js-tiktoken/ranks/gpt2";
import { BYTE_TO_CHAR } from "../../src/index.ts";

/** Decodes js-tiktoken's compressed ranks into token bytes, indexed by rank. */
export function gpt2TokenBytes(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const line of gpt2.bpe_ranks.split("\n")) {
    if (!line) continue;
    const [, offsetStr, ...tokens] = line.split(" ");
    let rank = Number(offsetStr);
    for (const b64 of tokens) {
      const bin = atob(b64);
      out[rank++] = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    }
  }
  return out;
}

const spell = (bytes: Uint8Array) => Array.from(bytes, (b) => BYTE_TO_CHAR[b]).join("");

/** GPT-2's `tokenizer.json` (as on the Hugging Face hub: vocab, merges, ByteLevel stages, `<|endoftext|>`). */
export function gpt2TokenizerJson(): object {
  const tokens = gpt2TokenBytes();
  const vocab: Record<string, number> = {};
  const rankOf = new Map<string, number>();
  tokens.forEach((bytes, rank) => {
    const s = spell(bytes);
    vocab[s] = rank;
    rankOf.set(s, rank);
  });
  const merges: Array<[string, string]> = [];
  tokens.forEach((bytes, rank) => {
    if (bytes.length < 2) return;
    // Merge the lowest-ranked adjacent pair (ranks below this token's) until two parts remain.
    let parts = Array.from(bytes, (b) => BYTE_TO_CHAR[b]!);
    while (parts.length > 2) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rankOf.get(parts[i]! + parts[i + 1]!);
        if (r !== undefined && r < rank && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) break;
      parts = [...parts.slice(0, at), parts[at]! + parts[at + 1]!, ...parts.slice(at + 2)];
    }
    merges.push([parts[0]!, parts[1]!]);
  });
  const eot = "<|endoftext|>";
  vocab[eot] = 50256;
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({ type: "ByteLevel", add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: eot, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}
