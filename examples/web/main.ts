/**
 * The in-browser distillation page: pick a text, train a BPE tokenizer in a worker, train a tiny
 * teacher, distil a student with a loss from the zoo (live loss plots), then generate from both.
 *
 * URL parameters: `smoke=1` picks tiny settings (seconds on a software adapter); `autorun=1` starts
 * a run as soon as the page is ready; `loss=<name>` preselects the distillation loss. When a run
 * ends, `document.body.dataset.state` is `done` (or `error`, `stopped`) and `window.__kdgpuResult`
 * holds what it measured (the end-to-end test reads both).
 * @module
 */
import { adapterName, init, memoryStats } from '@kdgpu/tensor';
import type { CausalLM } from '@kdgpu/models';
import { lossNames, lossOptionKeys, type LossName } from '@kdgpu/losses';
import { type MetricsRecord, plotLossCurves, type TrainSummary } from '@kdgpu/train';
import { type Tokenizer, tokenizerFromJson } from '@kdgpu/tokenizer';
import sample from './sense-and-sensibility.txt';
import type { TokenizerDone, TrainTokenizerRequest, WorkerReply } from './protocol.ts';
import { buildModel, continueText, distillLossNames, distilStudent, type RunHooks, trainTeacher } from './runs.ts';
import { DEFAULT_SETTINGS, readForm, type Settings, SMOKE_SETTINGS, writeForm } from './settings.ts';
import { countWords, fmtBytes, fmtInt, fmtLoss, splitText } from './text-utils.ts';

/** What a finished run measured (for people in the console, and for the end-to-end test). */
export interface RunResult {
  adapter: string;
  settings: Settings;
  text: { name: string; words: number; trainTokens: number; evalTokens: number };
  tokenizer: { vocabSize: number; seconds: number };
  teacher: ModelResult;
  student: ModelResult & { loss: string };
  /** Generated text (the continuation only) and its length in tokens. */
  generated: { prompt: string; teacher: string; student: string; teacherTokens: number; studentTokens: number };
  seconds: number;
}

interface ModelResult {
  parameters: number;
  steps: number;
  seconds: number;
  /** Mean train loss of each log interval (`ce`, `kd`: its parts). */
  logged: TrainSummary['logged'];
  validationLoss: number | null;
}

declare global {
  interface Window {
    __kdgpuResult?: RunResult;
  }
}

const params = new URLSearchParams(location.search);
const base: Settings = structuredClone(params.get('smoke') === '1' ? SMOKE_SETTINGS : DEFAULT_SETTINGS);
const wantLoss = params.get('loss');
if (wantLoss) base.loss = wantLoss;

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: element #${id} is missing`);
  return el as T;
}

// --- state -------------------------------------------------------------------------------------
const SAMPLE_NAME = 'Sense and Sensibility, ch. 1–9';
let dropped: { name: string; body: string } | null = null;
let tokenizer: Tokenizer | null = null;
let teacher: CausalLM | null = null;
let student: CausalLM | null = null;
let stopRequested = false;
let busy = false;
// Created now, so the page keeps working offline once loaded (start() waits for it).
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const workerLoaded = new Promise<void>((resolve, reject) => {
  worker.onmessage = (ev: MessageEvent<WorkerReply>) => {
    if (ev.data.type === 'ready') resolve();
  };
  worker.onerror = (ev) => reject(new Error(`the tokenizer worker did not load: ${ev.message || 'worker.js failed'}`));
});

function currentText(): { name: string; body: string } {
  const useFile = $<HTMLInputElement>('source-file').checked;
  return useFile && dropped ? dropped : { name: SAMPLE_NAME, body: sample };
}

// --- small helpers -----------------------------------------------------------------------------
function setState(state: 'loading' | 'ready' | 'no-webgpu' | 'running' | 'done' | 'stopped' | 'error', phase: string): void {
  document.body.dataset.state = state;
  $('phase').textContent = phase;
}

function showError(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const banner = $('banner');
  banner.textContent = message;
  banner.hidden = false;
  document.body.dataset.error = message;
  setState('error', 'error');
  console.error(err);
}

function setBusy(b: boolean): void {
  busy = b;
  $<HTMLButtonElement>('run').disabled = b;
  $<HTMLButtonElement>('stop').disabled = !b;
  $<HTMLButtonElement>('generate').disabled = b || !(teacher && student && tokenizer);
  document.querySelectorAll<HTMLInputElement | HTMLSelectElement>('main input, main select').forEach((el) => {
    if (el.id !== 'prompt' && el.id !== 'gen-mode' && el.id !== 'gen-tokens') el.disabled = b;
  });
  $<HTMLInputElement>('source-file').disabled = b || dropped === null;
  syncTemperature();
}

/** Temperature is offered only for losses that take one. */
function syncTemperature(): void {
  const has = lossOptionKeys($<HTMLSelectElement>('loss').value as LossName).includes('temperature');
  $<HTMLInputElement>('temperature').disabled = !has || busy;
}

function updateMemory(): void {
  $('gpu-bytes').textContent = fmtBytes(memoryStats().liveBytes);
}

/** Yields one task so the browser can paint between training steps (not clamped like setTimeout). */
function yieldToBrowser(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => resolve();
    ch.port2.postMessage(null);
  });
}

// --- 1. text -------------------------------------------------------------------------------------
function showTextInfo(): void {
  const t = currentText();
  const { train, eval: dev } = splitText(t.body);
  $('text-info').textContent =
    `${t.name}: ${fmtInt(countWords(t.body))} words, ${fmtBytes(new TextEncoder().encode(t.body).length)}; ` +
    `${fmtInt(countWords(train))} for training, ${fmtInt(countWords(dev))} held out for validation`;
}

async function loadFile(file: File): Promise<void> {
  const body = await file.text();
  if (body.trim() === '') throw new Error(`${file.name} is empty`);
  dropped = { name: file.name, body };
  const radio = $<HTMLInputElement>('source-file');
  radio.disabled = false;
  radio.checked = true;
  $('file-name').textContent = `Your file: ${file.name}`;
  const prompt = $<HTMLInputElement>('prompt');
  if (prompt.value === base.prompt) prompt.value = body.trim().split(/\s+/).slice(0, 2).join(' ');
  showTextInfo();
}

function wireText(): void {
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f && !busy) loadFile(f).catch(showError);
  });
  $<HTMLInputElement>('file').addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) loadFile(f).catch(showError);
  });
  document.querySelectorAll<HTMLInputElement>('input[name=source]').forEach((r) => r.addEventListener('change', showTextInfo));
}

// --- 2. tokenizer (in the worker) ----------------------------------------------------------------
function trainTokenizer(req: TrainTokenizerRequest): Promise<TokenizerDone> {
  const bar = $<HTMLProgressElement>('tok-progress');
  const info = $('tok-info');
  return new Promise((resolve, reject) => {
    worker.onerror = (ev) => reject(new Error(`tokenizer worker: ${ev.message || 'failed to load'}`));
    worker.onmessage = (ev: MessageEvent<WorkerReply>) => {
      const m = ev.data;
      switch (m.type) {
        case 'progress': {
          const f = m.total > 0 ? Math.min(1, m.done / m.total) : 0;
          if (m.phase === 'count') {
            bar.value = 0.3 * f;
            info.textContent = `counting words: ${fmtBytes(m.done)} of ${fmtBytes(m.total)}`;
          } else if (m.phase === 'merge') {
            bar.value = 0.3 + 0.6 * f;
            info.textContent = `merging: ${fmtInt(m.done)} of ${fmtInt(m.total)} tokens`;
          } else {
            bar.value = 0.9 + 0.1 * f;
            info.textContent = 'encoding the text';
          }
          break;
        }
        case 'done':
          bar.value = 1;
          resolve(m);
          break;
        case 'error':
          reject(new Error(`tokenizer: ${m.message}`));
          break;
        case 'ready':
          break;
        default:
          m satisfies never;
      }
    };
    worker.postMessage(req);
  });
}

// --- 3/4. training runs --------------------------------------------------------------------------
/** Records as plotted: validation shows its loss only; the teacher's train CE equals its loss. */
function forPlot(records: readonly MetricsRecord[], parts: boolean): MetricsRecord[] {
  return records.map((r) => {
    if (parts && r.split === 'train') return r;
    const { losses: _drop, ...rest } = r;
    return rest;
  });
}

function runHooks(which: 'teacher' | 'student', total: number, title: string): RunHooks & { records: MetricsRecord[] } {
  const records: MetricsRecord[] = [];
  const plot = $(`${which}-plot`);
  const info = $(`${which}-info`);
  const started = performance.now();
  plot.innerHTML = plotLossCurves([], { title, width: 560, height: 300 });
  return {
    records,
    onRecord(r) {
      records.push(r);
      plot.innerHTML = plotLossCurves(forPlot(records, which === 'student'), { title, width: 560, height: 300 });
      if (r.tokensPerSec !== undefined) $('tps').textContent = fmtInt(r.tokensPerSec);
      if (r.gpuBytes !== undefined) $('gpu-bytes').textContent = fmtBytes(r.gpuBytes);
    },
    async onStep(step) {
      info.textContent = `step ${step} of ${total}, ${((performance.now() - started) / 1000).toFixed(1)} s`;
      updateMemory();
      await yieldToBrowser();
    },
    shouldStop: () => stopRequested,
  };
}

function summarize(model: CausalLM, s: TrainSummary): ModelResult {
  return { parameters: model.numParameters(), steps: s.steps, seconds: s.seconds, logged: s.logged, validationLoss: s.lastEval?.loss ?? null };
}

function describeRun(r: ModelResult): string {
  const first = r.logged[0];
  const last = r.logged.at(-1);
  return `${r.steps} steps in ${r.seconds.toFixed(1)} s; train loss ${fmtLoss(first?.loss)} → ${fmtLoss(last?.loss)}, validation loss ${fmtLoss(r.validationLoss)}` +
    (r.validationLoss !== null ? ` (perplexity ${Math.exp(r.validationLoss).toFixed(1)})` : '');
}

// --- 5. generation -------------------------------------------------------------------------------
/** Generates into `out`: the prompt (greyed), then the continuation as it streams in. */
async function generateInto(model: CausalLM, tok: Tokenizer, s: Settings, out: HTMLElement): Promise<{ text: string; tokens: number }> {
  const p = document.createElement('span');
  p.className = 'prompt';
  p.textContent = s.prompt;
  const g = document.createElement('span');
  out.replaceChildren(p, g);
  const r = await continueText(model, tok, s, (text) => {
    g.textContent = text;
  });
  updateMemory();
  return r;
}

async function generateBoth(s: Settings): Promise<Omit<RunResult['generated'], 'prompt'>> {
  if (!teacher || !student || !tokenizer) throw new Error('generate: train the teacher and the student first');
  setState('running', 'generating');
  const t = await generateInto(teacher, tokenizer, s, $('teacher-out'));
  const st = await generateInto(student, tokenizer, s, $('student-out'));
  return { teacher: t.text, student: st.text, teacherTokens: t.tokens, studentTokens: st.tokens };
}

// --- the whole run -------------------------------------------------------------------------------
function disposeModels(): void {
  teacher?.dispose();
  student?.dispose();
  teacher = student = null;
  tokenizer = null;
}

async function runAll(): Promise<void> {
  let s: Settings;
  try {
    s = readForm(base);
  } catch (err) {
    showError(err);
    return;
  }
  $('banner').hidden = true;
  delete document.body.dataset.error;
  delete window.__kdgpuResult;
  stopRequested = false;
  disposeModels();
  setBusy(true);
  const t0 = performance.now();
  try {
    const text = currentText();
    const split = splitText(text.body);
    setState('running', 'training the tokenizer');
    const tok = await trainTokenizer({ type: 'train', trainText: split.train, evalText: split.eval, vocabSize: s.vocabSize });
    tokenizer = tokenizerFromJson(tok.tokenizerJson);
    $('tok-info').textContent = `${fmtInt(tok.vocabSize)} tokens in ${tok.seconds.toFixed(2)} s; the text is ${fmtInt(tok.trainIds.length)} training and ${fmtInt(tok.evalIds.length)} validation tokens`;
    if (tok.trainIds.length < 2 * s.blockSize || tok.evalIds.length < s.blockSize) {
      throw new Error(`the text is too short for blocks of ${s.blockSize} tokens (${tok.trainIds.length} training, ${tok.evalIds.length} validation tokens): use a longer text or a smaller block`);
    }

    setState('running', 'training the teacher');
    teacher = buildModel(s.teacher, tok.vocabSize, 1);
    $('teacher-params').textContent = `(${fmtInt(teacher.numParameters())} parameters)`;
    const th = runHooks('teacher', s.teacher.steps, 'Teacher: cross-entropy');
    const teacherResult = summarize(teacher, await trainTeacher(teacher, s, tokenizer, tok.trainIds, tok.evalIds, th));
    $('teacher-info').textContent = describeRun(teacherResult);
    if (stopRequested) return void setState('stopped', 'stopped');

    setState('running', `distilling the student (${s.loss})`);
    student = buildModel(s.student, tok.vocabSize, 2);
    $('student-params').textContent = `(${fmtInt(student.numParameters())} parameters)`;
    const temp = lossOptionKeys(s.loss as LossName).includes('temperature') ? `, T ${s.temperature}` : '';
    const sh = runHooks('student', s.student.steps, `Student: (1 − ${s.kdRatio})·CE + ${s.kdRatio}·${s.loss}${temp}`);
    const studentResult = summarize(student, await distilStudent(student, teacher, s, tokenizer, tok.trainIds, tok.evalIds, sh));
    $('student-info').textContent = describeRun(studentResult);
    if (stopRequested) return void setState('stopped', 'stopped');

    const generated = await generateBoth(s);
    const seconds = (performance.now() - t0) / 1000;
    window.__kdgpuResult = {
      adapter: adapterName(),
      settings: s,
      text: { name: text.name, words: countWords(text.body), trainTokens: tok.trainIds.length, evalTokens: tok.evalIds.length },
      tokenizer: { vocabSize: tok.vocabSize, seconds: tok.seconds },
      teacher: teacherResult,
      student: { ...studentResult, loss: s.loss },
      generated: { prompt: s.prompt, ...generated },
      seconds,
    };
    setState('done', `done in ${seconds.toFixed(1)} s`);
  } catch (err) {
    showError(err);
  } finally {
    setBusy(false);
    updateMemory();
  }
}

async function generateAgain(): Promise<void> {
  let s: Settings;
  try {
    s = readForm(base);
  } catch (err) {
    showError(err);
    return;
  }
  setBusy(true);
  try {
    await generateBoth(s);
    setState('done', 'generated');
  } catch (err) {
    showError(err);
  } finally {
    setBusy(false);
  }
}

// --- start ---------------------------------------------------------------------------------------
async function start(): Promise<void> {
  const select = $<HTMLSelectElement>('loss');
  for (const name of distillLossNames(lossNames())) select.add(new Option(name, name));
  if (!distillLossNames(lossNames()).includes(base.loss)) base.loss = 'forwardKL';
  writeForm(base);
  select.addEventListener('change', syncTemperature);
  syncTemperature();
  wireText();
  showTextInfo();
  $('run').addEventListener('click', () => void runAll());
  $('stop').addEventListener('click', () => {
    stopRequested = true;
    $('phase').textContent = 'stopping after this step';
  });
  $('generate').addEventListener('click', () => void generateAgain());

  if (!('gpu' in navigator) || !navigator.gpu) {
    const banner = $('banner');
    banner.textContent =
      'This browser has no WebGPU (navigator.gpu is missing), so nothing can be trained here. ' +
      'Use Chrome or Edge 113+ (on Linux: --enable-unsafe-webgpu --enable-features=Vulkan), Safari 26, or Firefox 141+ on Windows. ' +
      (window.isSecureContext ? '' : 'WebGPU also needs a secure context: open the page from localhost or over https.');
    banner.hidden = false;
    $('adapter').textContent = 'none (no WebGPU)';
    setState('no-webgpu', 'no WebGPU');
    return;
  }
  try {
    await workerLoaded;
  } catch (err) {
    showError(err);
    return;
  }
  try {
    await init();
  } catch (err) {
    $('adapter').textContent = 'none';
    showError(new Error(
      'This browser has WebGPU but gave no usable adapter. In Chromium on Linux, start it with ' +
        '--enable-unsafe-webgpu --enable-features=Vulkan, and see chrome://gpu for why WebGPU is off.\n' +
        `(${err instanceof Error ? err.message : String(err)})`,
    ));
    return;
  }
  $('adapter').textContent = adapterName();
  updateMemory();
  setState('ready', 'ready');
  $<HTMLButtonElement>('run').disabled = false;
  if (params.get('autorun') === '1') await runAll();
}

start().catch(showError);
