// `specqd demo`: completes held-out code snippets with the trained fixture models under each speculation stack,
// printing the completion, tokens/s, the speedup over the plain target and each level's acceptance, and checking
// that every stack produced exactly the target's tokens. Runs in one process: every engine is loaded once and
// warmed up, the stacks take turns on each snippet, and the speed is the median over repetitions (so a busy
// machine skews all stacks alike).
//
// The fixture models are tiny (a forward pass well under a millisecond), so per-pass overheads decide their ratios.
// The second part therefore runs the same snippets at a real model's cost: the fixture target widened to
// Qwen2.5-Coder-0.5B's shape with its head padded to the real 151,936 rows (make-bench-model widen: zero weights in
// the added dimensions, so it computes what the small model computes while reading ~1 GB of BF16 per token), and
// the deep draft with the same head size. There each stack runs beside the target alone, snippet by snippet, one
// stack loaded at a time (each holds its own copy of the weights). With a chart path it draws both parts' speedups
// as an SVG bar chart (the README shows it).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Engine, type CompletionResult, type SpeculationLevel } from '../engine';
import { barChart, type BarGroup } from './bench-charts';
import { findNativeTool, QWEN_VOCAB, runNativeTool, widenArgs } from './native-tools';
import { median } from './statistics';

export interface DemoOptions {
  root: string;
  snippets: number;
  maxTokens: number;
  repeats: number;
  threads?: number;
  /**
   * The drafting model (same tokenizer as the target); when absent the 2-block distilled fixture beside the tiny
   * target and the 6-block one at the real model's cost.
   */
  draft?: string;
  /** Where to write the speedup chart (SVG); none when absent. */
  chart?: string;
  /** Passes over the snippets at the real model's cost; 0 skips that part. */
  realSizePasses: number;
  /** Where the widened models are written (about 1 GB, removed at the end); the OS's temporary folder when absent. */
  tmp?: string;
}

interface Task {
  file: string;
  prefix: string;
  suffix: string;
}

const STACKS: SpeculationLevel[][] = [
  ['target'],
  ['target', 'ngram'],
  ['target', 'draft'],
  ['target', 'mxfp4'],
  ['target', 'mxfp4', 'ngram'],
  ['target', 'mxfp4', 'draft'],
  ['target', 'mxfp4', 'draft', 'ngram'],
];
// A snippet is shown only when the target writes at least this much there (the small fixture model often ends at
// once at a line start, which says nothing about speed).
const MIN_TOKENS = 24;

/**
 * Candidate FIM tasks from held-out files (never seen in training): the cursor at the end of a line at fixed
 * fractions of each file, in a fixed order, so the demo is the same on every run.
 */
export function demoCandidates(heldoutDir: string): Task[] {
  const files = fs
    .readdirSync(heldoutDir)
    .sort()
    .filter((f) => fs.statSync(path.join(heldoutDir, f)).size > 1500);
  const tasks: Task[] = [];
  for (const fraction of [0.35, 0.55, 0.75]) {
    for (const file of files) {
      const text = fs.readFileSync(path.join(heldoutDir, file), 'utf8');
      const cut = text.indexOf('\n', Math.floor(text.length * fraction));  // just before a newline: end of a line
      if (cut < 200) continue;
      tasks.push({ file, prefix: text.slice(Math.max(0, cut - 1200), cut), suffix: text.slice(cut, cut + 400) });
    }
  }
  return tasks;
}

/** Temporary file beside the destination, then rename: a reader never sees half a chart. */
function writeFileAtomically(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, text);
  fs.renameSync(temp, file);
}

export async function runDemo(o: DemoOptions, print: (line: string) => void): Promise<boolean> {
  const models = path.join(o.root, 'test', 'fixtures', 'models');
  const target = path.join(models, 'tiny-coder.gguf');
  // The 2-block draft by default: beside this 5.5M-parameter target every block of a draft counts (CHANGELOG).
  const draft = o.draft ?? path.join(models, 'tiny-coder-draft-distilled.gguf');
  const candidates = demoCandidates(path.join(o.root, 'test', 'fixtures', 'heldout', 'files'));
  const engines = await Promise.all(
    STACKS.map((levels) =>
      Engine.load({ target, draft, levels, contextLength: 1024, ...(o.threads ? { threads: o.threads } : {}) }),
    ),
  );
  // The snippets: the first candidates where the target writes at least MIN_TOKENS tokens.
  const plain = engines[0];
  const tasks: Task[] = [];
  for (const c of candidates) {
    if (tasks.length >= o.snippets) break;
    const r = await plain.complete({ prefix: c.prefix, suffix: c.suffix, maxTokens: o.maxTokens });
    if (r.tokens.length >= MIN_TOKENS) tasks.push(c);
  }
  const threads = plain.info().threads;
  print(`target ${path.basename(target)}, draft ${path.basename(draft)}, MXFP4 copy cast at load; kernels ` +
    `${plain.info().kernelPath}, ${threads} threads; ${tasks.length} held-out snippets, up to ` +
    `${o.maxTokens} tokens, median of ${o.repeats}`);
  const perStack = STACKS.map(() => ({ rates: [] as number[], proposed: new Map<string, number>(), accepted: new Map<string, number>() }));
  let exact = true;
  try {
    for (const task of tasks) {
      print(`\n=== ${task.file} — the cursor after:\n${task.prefix.split('\n').slice(-4).join('\n')}█`);
      const request = { prefix: task.prefix, suffix: task.suffix, maxTokens: o.maxTokens };
      const results: CompletionResult[][] = STACKS.map(() => []);
      for (let rep = 0; rep <= o.repeats; rep++) {
        for (let s = 0; s < STACKS.length; s++) {
          // A change in the prompt defeats the prefix cache, so every repetition pays the same prefill.
          const r = await (engines[s]).complete({ ...request, prefix: `${request.prefix}` + ' '.repeat(rep % 2) });
          if (rep > 0) (results[s]).push(r);  // repetition 0 warms up
        }
      }
      const baseline = results[0]?.[0];
      print(`--- completion (${baseline.tokens.length} tokens, stop: ${baseline.stopReason}):\n${baseline.text}\n---`);
      STACKS.forEach((stack, s) => {
        const runs = results[s];
        const same = runs.every((r, i) => JSON.stringify(r.tokens) === JSON.stringify(results[0]?.[i]?.tokens));
        exact &&= same;
        const rate = median(runs.map((r) => r.stats.decodeTokensPerSecond));
        const acc = perStack[s];
        acc.rates.push(rate);
        for (const l of runs[0]?.stats.levels.slice(1) ?? []) {
          acc.proposed.set(l.name, (acc.proposed.get(l.name) ?? 0) + l.proposed);
          acc.accepted.set(l.name, (acc.accepted.get(l.name) ?? 0) + l.accepted);
        }
        print(`    ${stack.join(' ← ').padEnd(32)} ${rate.toFixed(0).padStart(7)} tok/s   ${same ? 'same tokens as the target' : 'DIFFERENT TOKENS'}`);
      });
    }
  } finally {
    for (const e of engines) e.close();
  }
  const base = median(perStack[0].rates);
  print('\n=== all snippets (median tok/s over snippets)');
  print(`${'stack'.padEnd(32)} ${'tok/s'.padStart(7)} ${'speedup'.padStart(8)}  acceptance per level`);
  const speedups = STACKS.map((stack, s) => {
    const acc = perStack[s];
    const rate = median(acc.rates);
    const levels = [...acc.proposed.keys()]
      .map((name) => `${name} ${acceptancePercent(acc.accepted.get(name) ?? 0, acc.proposed.get(name) ?? 0)}`)
      .join(', ');
    print(`${stack.join(' ← ').padEnd(32)} ${rate.toFixed(0).padStart(7)} ${(rate / base).toFixed(2).padStart(7)}×  ${levels}`);
    return { label: stack.slice(1).join(' ← ') || 'target alone', value: rate / base };
  });
  print(`\nEvery stack produced exactly the target's tokens: ${exact ? 'yes' : 'NO'}`);
  print('These fixture models are tiny (5.5M and 0.9M parameters): a forward pass costs well under a millisecond, so the\n' +
    'ratios above say little about real models; the part below runs them at a real model\'s cost.');
  const real = o.realSizePasses > 0 && tasks.length > 0 ? await runRealSize(o, tasks, threads, print) : undefined;
  if (real) exact &&= real.exact;
  if (o.chart && tasks.length > 0) {
    const title = `Demo: decode speedup over the target alone (${tasks.length} held-out snippets, ${threads} threads)`;
    const groups: BarGroup[] = speedups.map((s, i) => ({
      label: s.label,
      values: [
        { series: 'tiny models', value: s.value },
        ...(real ? [{ series: '0.5B size', value: i === 0 ? 1 : real.speedups[i - 1] }] : []),
      ],
    }));
    writeFileAtomically(o.chart, barChart(title, 'speedup ×', groups, 1));
    print(`Chart: ${o.chart}`);
  }
  return exact;
}

/**
 * The snippets again at a real model's cost (see the top of the file): every stack but the target alone, each
 * loaded in turn and run beside the target alone on every snippet, in alternating order; a stack's speedup is the
 * target alone's decode time over its own, summed over the snippets and passes. Returns the speedups in
 * STACKS.slice(1) order and whether every stack gave the target's tokens.
 */
async function runRealSize(o: DemoOptions, tasks: Task[], threads: number,
  print: (line: string) => void): Promise<{ speedups: number[]; exact: boolean }> {
  const models = path.join(o.root, 'test', 'fixtures', 'models');
  const tmp = fs.mkdtempSync(path.join(o.tmp ?? os.tmpdir(), 'specqd-demo-'));
  const target = path.join(tmp, 'tiny-coder-0.5b-shape.gguf');
  const draft = path.join(tmp, 'draft-real-head.gguf');
  const speedups: number[] = [];
  let exact = true;
  try {
    print('\n=== at a real model\'s cost: the same snippets, the target widened to Qwen2.5-Coder-0.5B\'s shape\n' +
      '(24 layers, 896 wide, a 151,936-row head: ~1 GB of BF16 read per token; zero weights in the added dimensions,\n' +
      'so it computes what the small model computes), the draft\'s head padded to the same size');
    const widen = findNativeTool('make-bench-model');
    runNativeTool(widen, widenArgs(path.join(models, 'tiny-coder.gguf'), target, '0.5b', QWEN_VOCAB));
    runNativeTool(widen, widenArgs(o.draft ?? path.join(models, 'tiny-coder-draft-deep.gguf'), draft, 'keep', QWEN_VOCAB));
    const load = (levels: SpeculationLevel[]): Promise<Engine> =>
      Engine.load({ target, draft, levels, contextLength: 1024, threads });
    const baseline = await load(['target']);
    try {
      await baseline.complete({ prefix: tasks[0].prefix, suffix: tasks[0].suffix, maxTokens: 8 });  // first touches
      print(`${'stack'.padEnd(32)} ${'tok/s'.padStart(7)} ${'alone'.padStart(7)} ${'speedup'.padStart(8)}  acceptance per level`);
      for (const stack of STACKS.slice(1)) {
        const engine = await load(stack);
        let stackMs = 0;
        let stackTokens = 0;
        let aloneMs = 0;
        let aloneTokens = 0;
        let same = true;
        const proposed = new Map<string, number>();
        const accepted = new Map<string, number>();
        try {
          await engine.complete({ prefix: tasks[0].prefix, suffix: tasks[0].suffix, maxTokens: 8 });
          for (let pass = 0; pass < o.realSizePasses; pass++) {
            for (const [ti, task] of tasks.entries()) {
              // A change in the prompt defeats the prefix cache, so every pass pays the same prefill.
              const request = { prefix: task.prefix + ' '.repeat(pass % 2), suffix: task.suffix, maxTokens: o.maxTokens };
              const stackFirst = (ti + pass) % 2 === 0;
              const first = await (stackFirst ? engine : baseline).complete(request);
              const second = await (stackFirst ? baseline : engine).complete(request);
              const [mine, alone] = stackFirst ? [first, second] : [second, first];
              same &&= JSON.stringify(mine.tokens) === JSON.stringify(alone.tokens);
              stackMs += mine.stats.decodeMs;
              stackTokens += mine.stats.generatedTokens;
              aloneMs += alone.stats.decodeMs;
              aloneTokens += alone.stats.generatedTokens;
              for (const l of mine.stats.levels.slice(1)) {
                proposed.set(l.name, (proposed.get(l.name) ?? 0) + l.proposed);
                accepted.set(l.name, (accepted.get(l.name) ?? 0) + l.accepted);
              }
            }
          }
        } finally {
          engine.close();
        }
        exact &&= same;
        const speedup = stackMs > 0 ? aloneMs / stackMs : NaN;
        speedups.push(speedup);
        const levels = [...proposed.keys()]
          .map((name) => `${name} ${acceptancePercent(accepted.get(name) ?? 0, proposed.get(name) ?? 0)}`)
          .join(', ');
        const rate = (tokens: number, ms: number): string => (ms > 0 ? (tokens * 1000) / ms : 0).toFixed(0).padStart(7);
        print(`${stack.join(' ← ').padEnd(32)} ${rate(stackTokens, stackMs)} ${rate(aloneTokens, aloneMs)} ` +
          `${speedup.toFixed(2).padStart(7)}×  ${levels}${same ? '' : '  DIFFERENT TOKENS'}`);
      }
    } finally {
      baseline.close();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  print(`Every stack produced exactly the target's tokens: ${exact ? 'yes' : 'NO'} (speedup: the target alone's decode ` +
    `time over the stack's, run side by side on every snippet, ${o.realSizePasses} pass(es); "alone": its tok/s beside that stack)`);
  return { speedups, exact };
}

function acceptancePercent(accepted: number, proposed: number): string {
  return `${proposed ? ((100 * accepted) / proposed).toFixed(0) : '-'}% of ${proposed}`;
}
