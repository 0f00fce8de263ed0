/**
 * Prepares the Baby Llama demo corpus: a BabyLM-style folder of `<source>.train` / `<source>.dev`.
 *
 *   node --import tsx examples/prepare-corpus.ts [--source embedded|PATH] [--out DIR] [--max-words N] [--track 10M]
 *
 * --source     `embedded` (default): the public-domain corpus committed in examples/data (Jane
 *              Austen, the World English Bible, fortunes; ~1.7M words); or the path of a BabyLM
 *              folder (e.g. `babylm_data`, `babylm_data/babylm_10M`) or of the distributed
 *              `babylm_data.zip`, read in place.
 * --out        the folder to write (default `out/corpus`, git-ignored).
 * --max-words  cap on the total training words; every file is cut by the same fraction.
 * --track      the BabyLM training set to take from a zip or babylm_data folder (default `10M`).
 *
 * Prints what it wrote, and the `data.clean` map to give the trainer (BabyLM sources only).
 */
import { parseArgs } from 'node:util';
import { prepareCorpus } from './lib/corpus-node.ts';

const { values } = parseArgs({
  options: {
    source: { type: 'string', default: 'embedded' },
    out: { type: 'string', default: 'out/corpus' },
    'max-words': { type: 'string' },
    track: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log('usage: node --import tsx examples/prepare-corpus.ts [--source embedded|PATH] [--out DIR] [--max-words N] [--track 10M]');
  process.exit(0);
}

let maxWords: number | undefined;
if (values['max-words'] !== undefined) {
  maxWords = Number(values['max-words'].replace(/_/g, ''));
  if (!Number.isFinite(maxWords) || maxWords < 1) {
    console.error(`--max-words: expected a positive number, got ${values['max-words']}`);
    process.exit(2);
  }
}

const started = performance.now();
let corpus: Awaited<ReturnType<typeof prepareCorpus>>;
try {
  corpus = await prepareCorpus({
    source: values.source,
    outDir: values.out,
    ...(maxWords === undefined ? {} : { maxWords }),
    ...(values.track === undefined ? {} : { track: values.track }),
  });
} catch (e) {
  console.error(`prepare-corpus: ${(e as Error).message}`);
  process.exit(1);
}

const width = Math.max(6, ...corpus.files.map((f) => f.name.length));
const fmt = (n: number): string => n.toLocaleString('en-US').padStart(11);
console.log(`corpus from ${corpus.source}${maxWords === undefined ? '' : ` (max ${maxWords.toLocaleString('en-US')} training words)`}`);
console.log(`wrote ${corpus.dir}`);
console.log(`  ${'source'.padEnd(width)} ${'train words'.padStart(11)} ${'dev words'.padStart(11)}`);
for (const f of corpus.files) {
  const missing = f.devWords === 0 ? '  (no .dev)' : '';
  console.log(`  ${f.name.padEnd(width)} ${fmt(f.trainWords)} ${fmt(f.devWords)}${missing}`);
}
const train = corpus.files.reduce((a, f) => a + f.trainWords, 0);
const dev = corpus.files.reduce((a, f) => a + f.devWords, 0);
console.log(`  ${'total'.padEnd(width)} ${fmt(train)} ${fmt(dev)}`);
if (Object.keys(corpus.clean).length > 0) console.log(`data.clean: ${JSON.stringify(corpus.clean)}`);
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
