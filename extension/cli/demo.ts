// `specqd demo`: completes held-out code snippets with the trained fixture models under each speculation stack,
// printing the completion, tokens/s, the speedup over the plain target and each level's acceptance, and checking
// that every stack produced exactly the target's tokens. Runs in one process: every engine is loaded once and
// warmed up, the stacks take turns on each snippet, and the speed is the median over repetitions (so a busy
// machine skews all stacks alike). With a chart path it also draws the speedups as an SVG bar chart (the README shows
// the one in docs/images/).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Engine, type CompletionResult, type SpeculationLevel } from '../engine';
import { barChart } from './bench-charts';
import { median } from './statistics';

export interface DemoOptions {
  root: string;
  snippets: number;
  maxTokens: number;
  repeats: number;
  threads?: number;
  /** The drafting model (same tokenizer as the target); the 2-block distilled fixture when absent. */
  draft?: string;
  /** Where to write the speedup chart (SVG); none when absent. */
  chart?: string;
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
      .map((name) => {
        const p = acc.proposed.get(name) ?? 0;
        return `${name} ${p ? ((100 * (acc.accepted.get(name) ?? 0)) / p).toFixed(0) : '-'}% of ${p}`;
      })
      .join(', ');
    print(`${stack.join(' ← ').padEnd(32)} ${rate.toFixed(0).padStart(7)} ${(rate / base).toFixed(2).padStart(7)}×  ${levels}`);
    return { label: stack.slice(1).join(' ← ') || 'target alone', value: rate / base };
  });
  print(`\nEvery stack produced exactly the target's tokens: ${exact ? 'yes' : 'NO'}`);
  if (o.chart && tasks.length > 0) {
    const title = `Demo: decode speedup over the target alone (${tasks.length} held-out snippets, ${threads} threads)`;
    const svg = barChart(title, 'speedup ×', speedups.map((s) => ({ label: s.label, values: [{ series: 'target ←', value: s.value }] })), 1);
    writeFileAtomically(o.chart, svg);
    print(`Chart: ${o.chart}`);
  }
  print('These fixture models are tiny (5.5M and 0.9M parameters): a forward pass costs well under a millisecond, so the\n' +
    'ratios above say little about real models. `npm run bench` measures cost-realistic shapes.');
  return exact;
}
