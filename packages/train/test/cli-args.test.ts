/**
 * The command line's grammar, in process (no GPU): every command's flags are declared once and
 * strict: a typo is an error with a suggestion instead of being ignored, `--flag value` and
 * `--flag=value` agree, extra arguments are refused, `--resume` takes an optional folder, and each
 * command's --help lists every flag with its default.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS, commandHelp, main, parseArgs, suggest, UsageError } from '../src/cli.ts';

const cmd = (name: string) => COMMANDS.find((c) => c.name === name)!;

/** Runs main() with console output captured. */
async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  let out = '';
  let err = '';
  console.log = (...a: unknown[]) => void (out += `${a.join(' ')}\n`);
  console.error = (...a: unknown[]) => void (err += `${a.join(' ')}\n`);
  try {
    return { code: await main(argv), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('a typo in a flag is an error naming the flag it meant (it used to be ignored)', async () => {
  // The frictions: `--reusme` restarted from step 0; `--vocab 500` trained the default 16000;
  // `--max-tokens 5 --temp 0` generated 50 tokens at 0.8.
  for (const [argv, want] of [
    [['train', 'run.json', '--reusme'], /unknown flag --reusme; did you mean --resume\?/],
    [['tokenizer', 'train', '--out', 't.json', '--vocab', '500', 'a.txt'], /unknown flag --vocab; did you mean --vocab-size\?/],
    [['generate', '--model', 'm', '--prompt', 'hi', '--max-tokens', '5'], /unknown flag --max-tokens; did you mean --max-new-tokens\?/],
    [['generate', '--model', 'm', '--prompt', 'hi', '--temp', '0'], /unknown flag --temp; did you mean --temperature\?/],
    [['eval', '--model', 'm', '--blocksize', '64', 'a.txt'], /unknown flag --blocksize; did you mean --block-size\?/],
  ] as const) {
    const r = await capture([...argv]);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, want);
    assert.equal(r.out, '');
  }
  assert.equal(suggest('zzzzzz', ['resume', 'quiet']), null);
});

test('--flag value and --flag=value are the same; --resume takes an optional folder, never the config', () => {
  const g = cmd('generate');
  const a = parseArgs(g, ['--model', 'm', '--prompt', 'hi', '--max-new-tokens', '5', '--temperature', '0'])!;
  const b = parseArgs(g, ['--model=m', '--prompt=hi', '--max-new-tokens=5', '--temperature=0'])!;
  assert.deepEqual(a, b);
  assert.equal(a.flags['max-new-tokens'], 5);
  assert.equal(a.flags['top-p'], 1, 'defaults filled in');
  assert.equal(parseArgs(g, ['--model', 'm', '--prompt', '-x', '--seed', '-3'])!.flags.seed, -3, 'a negative number is a value');
  const t = cmd('train');
  // The friction: `--resume=DIR` ignored DIR.
  assert.equal(parseArgs(t, ['run.json', '--resume=runs/a/checkpoints/step-000010'])!.flags.resume, 'runs/a/checkpoints/step-000010');
  assert.equal(parseArgs(t, ['run.json', '--resume', 'runs/a/checkpoints/step-000010'])!.flags.resume, 'runs/a/checkpoints/step-000010');
  const before = parseArgs(t, ['--resume', 'run.json', 'optimizer.lr=1e-3'])!;
  assert.equal(before.flags.resume, true);
  assert.deepEqual(before.positional, ['run.json']);
  assert.deepEqual(before.overrides, ['optimizer.lr=1e-3']);
  const plain = parseArgs(t, ['run.json', '--resume', 'train.maxSteps=5'])!;
  assert.equal(plain.flags.resume, true, 'an override is not a folder');
  assert.deepEqual(plain.overrides, ['train.maxSteps=5']);
  assert.equal(parseArgs(t, ['run.json'])!.flags.resume, undefined);
});

test('extra arguments, missing values, repeated flags and bad numbers are errors', () => {
  const bad = (name: string, argv: string[], want: RegExp) => assert.throws(() => parseArgs(cmd(name), argv), (e: Error) => e instanceof UsageError && want.test(e.message));
  bad('train', ['a.json', 'b.json'], /unexpected argument "b\.json"/);
  bad('distill', ['a.json', 'b.json', '--quiet'], /unexpected argument "b\.json"/);
  bad('generate', ['--model', 'm', '--prompt', 'hi', 'extra'], /unexpected argument "extra"/);
  bad('generate', ['--model', 'm', '--prompt'], /--prompt needs a value/);
  bad('generate', ['--model', 'm', '--prompt', 'hi', '--seed', '1', '--seed', '2'], /--seed is given twice/);
  bad('generate', ['--model', 'm', '--prompt', 'hi', '--max-new-tokens', '5x'], /--max-new-tokens must be a number, got "5x"/);
  bad('generate', ['--model', 'm', '--prompt', 'hi', '--max-new-tokens', '2.5'], /must be a whole number/);
  bad('generate', ['--prompt', 'hi'], /--model is required/);
  bad('eval', ['--model', 'm', '--quiet=maybe'], /unknown flag --quiet/);
  bad('train', ['a.json', '--quiet=maybe'], /--quiet takes no value/);
});

test('every command has its own --help listing each flag and its default; `kdgpu tokenizer --help` works', async () => {
  for (const c of COMMANDS) {
    const r = await capture([...c.name.split(' '), '--help']);
    assert.equal(r.code, 0, c.name);
    assert.equal(r.out.trim(), commandHelp(c));
    assert.match(r.out, new RegExp(`^usage: kdgpu ${c.name}`));
    for (const [flag, spec] of Object.entries(c.flags)) {
      assert.ok(r.out.includes(`--${flag}`), `${c.name} --help lists --${flag}`);
      if (spec.default !== undefined && spec.default !== false) assert.ok(r.out.includes(`(default: ${Array.isArray(spec.default) ? spec.default.join(',') : spec.default})`), `${c.name}: default of --${flag}`);
    }
  }
  const group = await capture(['tokenizer', '--help']);
  assert.equal(group.code, 0);
  assert.match(group.out, /tokenizer train/);
  const noConfig = await capture(['train']);
  assert.equal(noConfig.code, 2);
  assert.match(noConfig.err, /missing CONFIG\.json.*kdgpu init writes an example/);
  const bare = await capture(['tokenizer']);
  assert.equal(bare.code, 2);
  const typo = await capture(['trian', 'x.json']);
  assert.equal(typo.code, 2);
  assert.match(typo.err, /unknown command "trian"; did you mean "train"\?/);
  const help = await capture(['--help']);
  for (const c of COMMANDS) assert.ok(help.out.includes(c.name), `kdgpu --help lists ${c.name}`);
});

test("README's CLI commands parse as written, and the configs they name validate", async () => {
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { validateConfig } = await import('../src/index.ts');
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  for (const readme of ['README.md', 'packages/train/README.md']) {
    const text = readFileSync(root + readme, 'utf8');
    const block = /## The CLI[\s\S]*?```sh\n([\s\S]*?)```/.exec(text)![1]!;
    const lines = block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.startsWith('npx kdgpu '));
    assert.ok(lines.length >= 6, readme);
    for (const line of lines) {
      // Shell words: "quoted strings" stay whole.
      const words = [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!).slice(2);
      const name = words[0] === 'tokenizer' ? `tokenizer ${words[1]}` : words[0]!;
      const c = cmd(name);
      assert.ok(c, `${readme}: ${line}: a command`);
      const parsed = parseArgs(c, words.slice(name.split(' ').length));
      assert.ok(parsed, line);
      if (readme === 'README.md') {
        for (const p of parsed.positional.filter((x) => x.startsWith('examples/configs/'))) validateConfig(JSON.parse(readFileSync(root + p, 'utf8')));
      }
    }
  }
});
