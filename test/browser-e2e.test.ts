/**
 * End to end in a real browser: builds the web page (examples/web), serves it on localhost, opens
 * it in headless Chromium (Debian's `chromium`, driven by playwright-core) with WebGPU on, goes
 * offline once the page has loaded, runs a smoke-size distillation (`?smoke=1`, then the "Train &
 * distil" button) and checks that the student's loss falls and that teacher and student both
 * generate text. Saves a screenshot: to examples/web/screenshot.png when KDGPU_SCREENSHOT=1 (to
 * refresh the README's), otherwise to a temporary folder.
 *
 * Needs /usr/bin/chromium (or KDGPU_CHROMIUM): `bash scripts/setup-browser.sh` installs it.
 * Under Deno the test is skipped: playwright-core launches browsers through Node-only APIs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
const chromiumPath = process.env.KDGPU_CHROMIUM ?? '/usr/bin/chromium';
/** The flags verified to give headless Chromium a WebGPU adapter on a machine without a GPU. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const RUN_TIMEOUT_MS = 150_000;

/** What the page publishes on `window.__kdgpuResult` (examples/web/main.ts, RunResult), as used here. */
interface PageResult {
  adapter: string;
  teacher: { steps: number; logged: { step: number; loss: number }[]; validationLoss: number | null };
  student: { loss: string; steps: number; logged: { step: number; loss: number; ce: number; kd: number }[]; validationLoss: number | null };
  settings: { genTokens: number };
  generated: { prompt: string; teacher: string; student: string; teacherTokens: number; studentTokens: number };
  seconds: number;
}

test(
  'web page: a smoke distillation runs in headless Chromium on WebGPU',
  { skip: isDeno ? 'playwright-core launches Chromium through Node-only APIs; this test runs under Node (npm run test:node)' : false, timeout: RUN_TIMEOUT_MS + 60_000 },
  async () => {
    assert.ok(
      existsSync(chromiumPath),
      `Chromium is not installed at ${chromiumPath}: run \`bash scripts/setup-browser.sh\` (installs Debian's chromium), or set KDGPU_CHROMIUM to a Chromium binary`,
    );
    const { buildPage } = await import('../examples/web/build.ts');
    const { startServer } = await import('../examples/web/serve.ts');
    const { chromium } = await import('playwright-core');

    const tmp = await mkdtemp(join(tmpdir(), 'kdgpu-e2e-'));
    const screenshot = process.env.KDGPU_SCREENSHOT === '1' ? fileURLToPath(new URL('../examples/web/screenshot.png', import.meta.url)) : join(tmp, 'screenshot.png');
    let server: Awaited<ReturnType<typeof startServer>> | undefined;
    let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
    const problems: string[] = [];
    try {
      const { outDir } = await buildPage({ outDir: join(tmp, 'dist') });
      server = await startServer({ port: 0, dir: outDir });
      browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, timeout: 60_000 });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
      });
      await page.goto(`${server.url}?smoke=1`);
      await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 60_000 });
      const ready = await page.evaluate(() => ({ state: document.body.dataset.state, error: document.body.dataset.error ?? '' }));
      assert.equal(ready.state, 'ready', `the page did not get ready (state "${ready.state}"): ${ready.error}\n${problems.join('\n')}`);
      // Once loaded, the page needs no network: run it offline.
      await page.context().setOffline(true);
      const t0 = Date.now();
      await page.click('#run');
      await page.waitForFunction(() => ['done', 'error', 'no-webgpu', 'stopped'].includes(document.body.dataset.state ?? ''), null, { timeout: RUN_TIMEOUT_MS, polling: 250 });
      const seconds = (Date.now() - t0) / 1000;
      // The whole page in one viewport, so the sticky status bar is drawn at its end, not mid-page.
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.setViewportSize({ width: 1280, height });
      await page.screenshot({ path: screenshot });
      console.log(`# browser e2e: page finished in ${seconds.toFixed(1)} s; screenshot: ${screenshot}`);

      const state = await page.evaluate(() => ({ state: document.body.dataset.state, error: document.body.dataset.error ?? '' }));
      assert.equal(state.state, 'done', `the page ended in state "${state.state}": ${state.error}\n${problems.join('\n')}`);
      const result = (await page.evaluate(() => (window as unknown as { __kdgpuResult?: unknown }).__kdgpuResult)) as PageResult | undefined;
      assert.ok(result, 'window.__kdgpuResult is missing after the run');
      console.log(`# adapter: ${result.adapter}; generated: teacher ${JSON.stringify(result.generated.teacher)}, student ${JSON.stringify(result.generated.student)}`);
      console.log(`# train losses: teacher ${result.teacher.logged.map((r) => r.loss.toFixed(3)).join(' ')}; student ${result.student.logged.map((r) => r.loss.toFixed(3)).join(' ')}`);

      assert.ok(result.adapter.length > 0, 'the page names no adapter');
      const student = result.student.logged;
      assert.ok(student.length >= 2, `the student logged ${student.length} loss values; need at least 2 to see a trend`);
      assert.ok(student.every((r) => Number.isFinite(r.loss) && Number.isFinite(r.ce) && Number.isFinite(r.kd)), 'a student loss is not finite');
      assert.ok(student.at(-1)!.loss < student[0]!.loss, `the student's train loss did not fall: ${student.map((r) => r.loss.toFixed(4)).join(' → ')}`);
      const teacher = result.teacher.logged;
      assert.ok(teacher.at(-1)!.loss < teacher[0]!.loss, `the teacher's train loss did not fall: ${teacher.map((r) => r.loss.toFixed(4)).join(' → ')}`);
      assert.ok(Number.isFinite(result.student.validationLoss), 'no finite validation loss for the student');

      for (const who of ['teacher', 'student'] as const) {
        const text = result.generated[who];
        assert.equal(result.generated[`${who}Tokens`], result.settings.genTokens, `the ${who} generated ${result.generated[`${who}Tokens`]} tokens`);
        assert.ok(text.trim().length > 0, `the ${who} generated no visible text: ${JSON.stringify(text)}`);
        const shown = await page.locator(`#${who}-out`).innerText();
        assert.ok(shown.includes(text.trim()), `the ${who}'s text is not on the page: ${JSON.stringify(shown)}`);
      }
      // The live plot has the student's train curves (total, CE and KD parts) and its validation curve.
      const series = await page.locator('#student-plot path.series').evaluateAll((els) => els.map((e) => e.getAttribute('data-series')));
      for (const name of ['train loss', 'train ce', 'train kd', 'validation loss']) assert.ok(series.includes(name), `the student's plot has no "${name}" curve (has: ${series.join(', ')})`);
      assert.deepEqual(problems.filter((p) => !/favicon/.test(p)), [], 'errors in the page');
    } finally {
      await browser?.close().catch(() => {});
      await server?.close().catch(() => {});
      await rm(join(tmp, 'dist'), { recursive: true, force: true });
    }
  },
);
