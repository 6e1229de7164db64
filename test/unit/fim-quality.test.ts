// What a user sees from the trained fixture model: the extension's own path (prompt builder, the real engine on
// tiny-coder.gguf, post-processing) at cursors placed in held-out files the model never saw, as if the user were
// typing there: the cursor's line is cut at the cursor (the rest of it is what the model should write), the lines
// around it stay. Measured for syntactic plausibility. The measures, per shown completion:
//   - brackets: every closing bracket matches the innermost bracket open at that point, counting brackets opened
//     in the last lines of the prefix (a completion may close a call the user is typing), and at most one bracket
//     is left open at its end (a multi-line completion cut by the line limit may end inside a block);
//   - indentation: every line after the first is indented by a multiple of the file's indentation unit and at most
//     one unit deeper than the line before it; at a cursor right after a line's indentation the completion does
//     not start with more whitespace.
// A completion is plausible when it is shown (not empty) and passes both. The thresholds sit a little below what
// the fixture reaches, so a regression in the model, the engine, the prompt or the post-processing shows up here.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { seededRandom } from '../../extension/cli/bench-prompts';
import { CompletionService, type CompletionSource } from '../../extension/completion-service';
import { Engine } from '../../extension/engine';
import { indentWidth } from '../../extension/postprocess';
import { textLines } from '../../extension/prompt';
import { defaultSettings, type Settings } from '../../extension/settings';
import { tinyCoder } from './completion-model';
import { repoRoot } from './shared-paths';

const heldoutDir = path.join(repoRoot, 'test', 'fixtures', 'heldout', 'files');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const openers = '([{';
const closers = ')]}';

type CursorKind = 'mid-line' | 'after indentation' | 'inside a word';

interface Sample {
  file: string;
  kind: CursorKind;
  line: number;
  character: number;
}

/** Cursors of three kinds on random code lines (not blank, not the first 5 lines) of every held-out file. */
function samples(perFile: number): Sample[] {
  const random = seededRandom(20261128);
  const out: Sample[] = [];
  for (const file of fs.readdirSync(heldoutDir).sort()) {
    const lines = fs.readFileSync(path.join(heldoutDir, file), 'utf8').split(/\r\n|\r|\n/);
    const code = lines.map((l, i) => ({ l, i })).filter(({ l, i }) => i >= 5 && l.trim().length >= 4);
    for (let n = 0; n < perFile && code.length > 0; n++) {
      const { l, i } = code[Math.floor(random() * code.length)];
      const kind: CursorKind = (['mid-line', 'after indentation', 'inside a word'] as const)[n % 3];
      const indent = l.length - l.trimStart().length;
      let character = indent + 1 + Math.floor(random() * (l.length - indent - 1));
      if (kind === 'after indentation') character = indent;
      if (kind === 'inside a word') {
        const words = [...l.matchAll(/[A-Za-z_]{4,}/g)];
        if (words.length === 0) continue;
        const w = words[Math.floor(random() * words.length)];
        character = (w.index ?? 0) + 2;
      }
      out.push({ file, kind, line: i, character });
    }
  }
  return out;
}

/** The indentation unit of a file: the most common positive step between consecutive code lines (2 or 4 usually). */
function indentUnit(lines: string[]): number {
  const steps = new Map<number, number>();
  let previous = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const width = indentWidth(line);
    const step = Math.abs(width - previous);
    if (step > 0) steps.set(step, (steps.get(step) ?? 0) + 1);
    previous = width;
  }
  return [...steps.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? 4;
}

/** Brackets of `text` (naively: strings and comments included, as a user skimming the ghost text would). */
function bracketsPlausible(prefixTail: string, completion: string): boolean {
  const stack: string[] = [];
  for (const ch of prefixTail) {
    if (openers.includes(ch)) stack.push(ch);
    else if (closers.includes(ch) && stack.at(-1) === openers[closers.indexOf(ch)]) stack.pop();
  }
  const openBefore = stack.length;
  for (const ch of completion) {
    if (openers.includes(ch)) stack.push(ch);
    else if (closers.includes(ch)) {
      if (stack.at(-1) !== openers[closers.indexOf(ch)]) return false;  // closes nothing, or the wrong bracket
      stack.pop();
    }
  }
  return stack.length <= openBefore + 1;
}

function indentationPlausible(linePrefix: string, completion: string, kind: CursorKind, unit: number): boolean {
  const lines = completion.split('\n');
  if (kind === 'after indentation' && /^\s/.test(lines[0] ?? '')) return false;
  let previous = indentWidth(linePrefix + (lines[0] ?? ''));
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const width = indentWidth(line);
    if (width % unit !== 0 || width > previous + unit) return false;
    previous = width;
  }
  return true;
}

type Tally = { n: number; shown: number; brackets: number; indentation: number; plausible: number };

/** The extension's completion path at every sample cursor; `heal: false` turns the service's token healing off. */
async function measure(engine: Engine, heal: boolean): Promise<Map<CursorKind, Tally>> {
  const settings: Settings = { ...defaultSettings, debounceMs: 0, timeBudgetMs: 60_000 };
  const complete: CompletionSource['engine']['complete'] = (request) => engine.complete(heal ? request : { ...request, tokenHealing: false });
  const source: CompletionSource = { engine: { complete }, fim: true, contextLength: 512 };
  const service = new CompletionService({ source: () => source, settings: () => settings, log: quiet });
  const tally = new Map<CursorKind, Tally>();
  for (const s of samples(3)) {
    const lines = fs.readFileSync(path.join(heldoutDir, s.file), 'utf8').split(/\r\n|\r|\n/);
    lines[s.line] = (lines[s.line] ?? '').slice(0, s.character);  // not typed yet: the rest of the line
    const shown = await service.provide({ ...textLines(lines.join('\n')), languageId: path.extname(s.file).slice(1) }, s);
    const t = tally.get(s.kind) ?? { n: 0, shown: 0, brackets: 0, indentation: 0, plausible: 0 };
    t.n++;
    if (shown !== undefined) {
      const linePrefix = (lines[s.line] ?? '').slice(0, s.character);
      const prefixTail = [...lines.slice(Math.max(0, s.line - 8), s.line), linePrefix].join('\n');
      const brackets = bracketsPlausible(prefixTail, shown);
      const indentation = indentationPlausible(linePrefix, shown, s.kind, indentUnit(lines));
      t.shown++;
      t.brackets += brackets ? 1 : 0;
      t.indentation += indentation ? 1 : 0;
      t.plausible += brackets && indentation ? 1 : 0;
    }
    tally.set(s.kind, t);
  }
  return tally;
}

/** Prints the tally per cursor kind and returns the sum. */
function report(title: string, tally: Map<CursorKind, Tally>): Tally {
  const all = { n: 0, shown: 0, brackets: 0, indentation: 0, plausible: 0 };
  const pct = (a: number, b: number): string => `${((100 * a) / Math.max(1, b)).toFixed(0)}%`;
  console.log(`      ${title}`);
  for (const [kind, t] of tally) {
    for (const k of Object.keys(all) as (keyof typeof all)[]) all[k] += t[k];
    console.log(`        ${kind.padEnd(18)} n ${t.n}: shown ${pct(t.shown, t.n)}, of those brackets ok ${pct(t.brackets, t.shown)}, ` +
      `indentation ok ${pct(t.indentation, t.shown)}; plausible ${pct(t.plausible, t.n)} of all`);
  }
  console.log(`        all                n ${all.n}: shown ${pct(all.shown, all.n)}, plausible ${pct(all.plausible, all.n)} of all, ` +
    `${pct(all.plausible, all.shown)} of shown`);
  return all;
}

describe('FIM completions of the trained fixture on held-out code (real engine)', function () {
  this.timeout(300_000);
  if (!fs.existsSync(tinyCoder)) return;  // the fixture is committed; this guards a partial checkout only

  it('shows syntactically plausible code at most cursors, more of it with token healing than without', async () => {
    const engine = await Engine.load({ target: tinyCoder, threads: 2, contextLength: 512 });
    let healedKinds: Map<CursorKind, Tally>;
    let healed: Tally;
    let asIs: Tally;
    try {
      healedKinds = await measure(engine, true);
      healed = report('with token healing (what the extension does)', healedKinds);
      asIs = report('without token healing', await measure(engine, false));
    } finally {
      engine.close();
    }
    assert.ok(healed.n >= 150, `only ${healed.n} samples`);
    // Measured at the fixture committed on 2026-11-29 (27 M training tokens): with healing shown at 86% of cursors
    // (the rest: the model ends at once, or post-processing drops a loop or an unfinished line), 83% of shown
    // completions plausible, 71% of all cursors; without healing 57%, 81% and 46%. The bounds leave a few points for
    // other kernel paths' rounding; the previous fixture (8 M tokens) reached 74% / 81% / 60% with healing.
    assert.ok(healed.shown / healed.n >= 0.78, `shown at ${healed.shown} of ${healed.n} cursors`);
    assert.ok(healed.plausible / healed.shown >= 0.76, `plausible: ${healed.plausible} of ${healed.shown} shown`);
    assert.ok(healed.plausible / healed.n >= 0.64, `plausible: ${healed.plausible} of ${healed.n} cursors`);
    assert.ok(healed.plausible > asIs.plausible, `healing: ${healed.plausible} plausible, without: ${asIs.plausible}`);
    // Right after indentation, healing must not indent deeper than the user did (Engine::healing_candidates): 83% of
    // shown completions there pass the indentation rule; 71% did before healing refused tokens that add blanks.
    const indented = healedKinds.get('after indentation');
    assert.ok(indented && indented.indentation / indented.shown >= 0.78,
      `after indentation: indentation ok in ${indented?.indentation} of ${indented?.shown} shown`);
  });
});
