import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import {
  BABYLM_CLEANED_SOURCES,
  countWords,
  readBabyLMZip,
  selectBabyLMPaths,
  splitTrainDev,
  summarizeCorpus,
  truncateCorpus,
  truncateWords,
} from '../examples/lib/corpus.ts';
import { EMBEDDED_DIR, loadCorpus, prepareCorpus } from '../examples/lib/corpus-node.ts';
import { CLEANERS } from '../packages/train/src/clean.ts';

/** The word counts documented in examples/data/README.md. */
const EMBEDDED = [
  { name: 'austen', trainWords: 651_815, devWords: 65_722 },
  { name: 'bible', trainWords: 813_444, devWords: 91_951 },
  { name: 'fortunes', trainWords: 38_388, devWords: 4_203 },
];

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kdgpu-corpus-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the embedded corpus materializes: every .train has a .dev, counts as documented', async () => {
  await withTmp(async (tmp) => {
    const out = join(tmp, 'corpus');
    await mkdir(out);
    await writeFile(join(out, 'stale.train'), 'left over from another corpus\n');
    const r = await prepareCorpus({ outDir: out });
    assert.equal(r.dir, out);
    assert.equal(r.source, 'embedded');
    assert.deepEqual(r.files, EMBEDDED);
    assert.deepEqual(r.clean, {});
    const names = (await readdir(out)).sort();
    assert.deepEqual(names, [
      'austen.dev', 'austen.train', 'bible.dev', 'bible.train', 'corpus.json', 'fortunes.dev', 'fortunes.train',
    ]);
    for (const f of EMBEDDED) {
      const train = await readFile(join(out, `${f.name}.train`), 'utf8');
      const dev = await readFile(join(out, `${f.name}.dev`), 'utf8');
      assert.equal(countWords(train), f.trainWords);
      assert.equal(countWords(dev), f.devWords);
      // ~90/10 split, no markup left, no dev chunk also in train.
      const share = f.devWords / (f.trainWords + f.devWords);
      assert.ok(share > 0.08 && share < 0.12, `${f.name}: dev share ${share}`);
      if (f.name === 'bible') assert.ok(!/<\/?[a-zA-Z][^>]*>/.test(train + dev), 'OSIS markup left in the bible text');
      const devParagraph = dev.split('\n\n').find((p) => p.length > 200)!;
      assert.ok(devParagraph !== undefined && !train.includes(devParagraph), `${f.name}: dev text leaks into train`);
    }
    assert.match(await readFile(join(out, 'austen.train'), 'utf8'), /^SENSE AND SENSIBILITY\n/);
    assert.match(await readFile(join(out, 'bible.train'), 'utf8'), /^In the beginning, God created the heavens and the earth\.\n/);
    const manifest = JSON.parse(await readFile(join(out, 'corpus.json'), 'utf8'));
    assert.equal(manifest.source, 'embedded');
  });
});

test('the committed files stay within the size budget', async () => {
  const gz = (await readdir(EMBEDDED_DIR)).filter((n) => n.endsWith('.gz'));
  assert.equal(gz.length, 6);
  let total = 0;
  for (const n of gz) total += (await stat(join(EMBEDDED_DIR, n))).size;
  assert.ok(total <= 3.2e6, `embedded corpus is ${total} bytes`);
});

test('maxWords cuts every split by the same fraction', async () => {
  await withTmp(async (out) => {
    const r = await prepareCorpus({ outDir: out, maxWords: 50_000 });
    const train = r.files.reduce((a, f) => a + f.trainWords, 0);
    assert.ok(train <= 50_000 && train > 49_990, `train words ${train}`);
    const frac = 50_000 / EMBEDDED.reduce((a, f) => a + f.trainWords, 0);
    for (const [i, f] of r.files.entries()) {
      const full = EMBEDDED[i]!;
      assert.equal(f.name, full.name);
      assert.equal(f.trainWords, Math.floor(full.trainWords * frac));
      assert.equal(f.devWords, Math.floor(full.devWords * frac));
      assert.ok(f.devWords > 0);
      assert.equal(countWords(await readFile(join(out, `${f.name}.dev`), 'utf8')), f.devWords);
    }
    // The cut keeps the head of each file, line structure included.
    const full = (await loadCorpus('embedded')).files.find((f) => f.name === 'austen.train')!.text;
    const cut = await readFile(join(out, 'austen.train'), 'utf8');
    assert.ok(full.startsWith(cut.slice(0, -1)));
    assert.ok(cut.endsWith('\n'));
  });
});

test('truncation helpers', () => {
  assert.equal(truncateWords('a b\n c  d e', 3), 'a b\n c\n');
  assert.equal(truncateWords('a b c\n', 3), 'a b c\n');
  assert.equal(truncateWords('a b c', 5), 'a b c');
  assert.equal(truncateWords('a b c', 0), '');
  const files = [
    { name: 'x.train', text: 'one two three four five six seven eight nine ten\n' },
    { name: 'x.dev', text: 'a b c d e f g h i j\n' },
    { name: 'y.train', text: 'p q r s t u v w x y z a b c d e f g h i j k l m n o p q r s\n' },
  ];
  const t = summarizeCorpus(truncateCorpus(files, 8));
  assert.deepEqual(t, [{ name: 'x', trainWords: 2, devWords: 2 }, { name: 'y', trainWords: 6, devWords: 0 }]);
  assert.deepEqual(truncateCorpus(files, 1000), files);
  assert.throws(() => truncateCorpus(files, 0), /maxWords/);
});

test('splitTrainDev sends every 10th chunk to dev, in order', () => {
  const chunks = Array.from({ length: 25 }, (_, i) => `c${i + 1}`);
  const { train, dev } = splitTrainDev(chunks);
  assert.equal(dev, 'c10\n\nc20\n');
  assert.equal(train.split('\n\n').length, 23);
  assert.ok(train.startsWith('c1\n\nc2\n\n') && train.endsWith('c25\n'));
});

/** A miniature of the distributed babylm_data.zip (2023 layout), with the parts to be ignored. */
function tinyBabyLMZip(): Uint8Array {
  const t = (s: string): Uint8Array => strToU8(s);
  return zipSync({
    babylm_data: {
      babylm_10M: {
        'aochildes.train': t('*CHI: more cookie .\n*MOT: you want more ?\n'),
        'qed.train': t('WELL THIS IS A TEST.\nthe lecture begins\n'),
        'wikipedia.train': t('= = = Title = = =\nSome text here.\n'),
      },
      babylm_100M: { 'aochildes.train': t('not this one\n'), 'qed.train': t('nor this\n') },
      babylm_dev: { 'aochildes.dev': t('*CHI: bye .\n'), 'qed.dev': t('dev lecture\n') },
      babylm_test: { 'aochildes.test': t('test text\n') },
      'README.md': t('# BabyLM\n'),
    },
    __MACOSX: { babylm_data: { babylm_10M: { '._qed.train': t('\x00\x05\x16\x07') } } },
  });
}

test('a BabyLM zip is read in place (10M track and its dev set)', async () => {
  const zip = tinyBabyLMZip();
  const files = readBabyLMZip(zip);
  assert.deepEqual(files.map((f) => f.name), ['aochildes.dev', 'aochildes.train', 'qed.dev', 'qed.train', 'wikipedia.train']);
  assert.equal(files.find((f) => f.name === 'qed.train')!.text, 'WELL THIS IS A TEST.\nthe lecture begins\n');
  const big = readBabyLMZip(zip, { track: '100M' });
  assert.equal(big.find((f) => f.name === 'aochildes.train')!.text, 'not this one\n');

  await withTmp(async (tmp) => {
    const zipPath = join(tmp, 'babylm_data.zip');
    await writeFile(zipPath, zip);
    const out = join(tmp, 'corpus');
    const r = await prepareCorpus({ source: zipPath, outDir: out });
    assert.deepEqual(r.files, [
      { name: 'aochildes', trainWords: 9, devWords: 3 },
      { name: 'qed', trainWords: 8, devWords: 2 },
      { name: 'wikipedia', trainWords: 10, devWords: 0 },
    ]);
    assert.deepEqual(r.clean, { aochildes: 'aochildes', qed: 'qed', wikipedia: 'wikipedia' });
    assert.equal(await readFile(join(out, 'aochildes.dev'), 'utf8'), '*CHI: bye .\n');
    assert.deepEqual((await readdir(out)).sort(), [
      'aochildes.dev', 'aochildes.train', 'corpus.json', 'qed.dev', 'qed.train', 'wikipedia.train',
    ]);
  });
});

test('a BabyLM folder is taken as is: flat, babylm_data tree, or babylm_10M with a sibling dev', async () => {
  await withTmp(async (tmp) => {
    const tree = join(tmp, 'babylm_data');
    await mkdir(join(tree, 'babylm_10M'), { recursive: true });
    await mkdir(join(tree, 'babylm_dev'));
    await writeFile(join(tree, 'babylm_10M', 'switchboard.train'), 'A: uh-huh .\nB: yeah\n');
    await writeFile(join(tree, 'babylm_dev', 'switchboard.dev'), 'A: okay\n');
    for (const src of [tree, join(tree, 'babylm_10M')]) {
      const out = join(tmp, 'out');
      const r = await prepareCorpus({ source: src, outDir: out });
      assert.deepEqual(r.files, [{ name: 'switchboard', trainWords: 5, devWords: 2 }]);
      assert.equal(await readFile(join(out, 'switchboard.train'), 'utf8'), 'A: uh-huh .\nB: yeah\n');
      assert.equal(await readFile(join(out, 'switchboard.dev'), 'utf8'), 'A: okay\n');
    }
    const flat = join(tmp, 'flat');
    await mkdir(flat);
    await writeFile(join(flat, 'mine.train'), 'x y z\n');
    await writeFile(join(flat, 'mine.dev'), 'w\n');
    await writeFile(join(flat, 'notes.txt'), 'ignored\n');
    const r = await prepareCorpus({ source: flat, outDir: flat });
    assert.deepEqual(r.files, [{ name: 'mine', trainWords: 3, devWords: 1 }]);
    assert.equal(await readFile(join(flat, 'mine.train'), 'utf8'), 'x y z\n');
  });
  await assert.rejects(prepareCorpus({ source: '/nonexistent/babylm', outDir: tmpdir() }), /not found/);
});

test('BabyLM layouts: 2024 names, ambiguity is an error', () => {
  assert.deepEqual(selectBabyLMPaths(['train_10M/childes.train', 'train_100M/childes.train', 'dev/childes.dev', 'test/childes.test']), [
    'dev/childes.dev', 'train_10M/childes.train',
  ]);
  assert.throws(() => selectBabyLMPaths(['a/x.train', 'b/y.train']), /expected one folder/);
  assert.throws(() => selectBabyLMPaths(['README']), /no \.train files/);
});

test('the BabyLM cleaner names mirror @kdgpu/train CLEANERS', () => {
  const generic = new Set(['none', 'strip_html', 'normalize_whitespace']);
  assert.deepEqual([...BABYLM_CLEANED_SOURCES].sort(), Object.keys(CLEANERS).filter((k) => !generic.has(k)).sort());
});
