// The benchmark's markdown report, rendered from reports the suite really wrote (bench/results/).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { BenchReport } from '../../extension/cli/bench';
import { renderMarkdown } from '../../extension/cli/bench-report';
import { repoRoot } from './shared-paths';

// The first end-to-end run with --e2e-rounds.
const MULTI_PASS = 'e2e-s18';

function report(dir: string): BenchReport {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, 'bench', 'results', dir, 'report.json'), 'utf8')) as BenchReport;
}

describe('bench report', () => {
  it('leaves out the per-token cost sections of an end-to-end-only run instead of printing them empty', () => {
    const r = report('e2e-deep-draft');
    assert.equal(r.shapeModels.length, 0);
    const md = renderMarkdown(r);
    assert.match(md, /^# SpecQD benchmark \(full, end to end only\)/);
    assert.doesNotMatch(md, /Per-token costs/);
    assert.doesNotMatch(md, /Verification of k tokens/);
    assert.doesNotMatch(md, /verify-cost\.svg/);
    // The end-to-end tables are all there, with the run's own figures.
    assert.equal(md.match(/^### End to end:/gm)?.length, r.endToEnd.length);
    const best = r.endToEnd[0].configs.find((c) => c.name === 'target ← draft ← ngram');
    assert.ok(best);
    assert.ok(md.includes(`| target ← draft ← ngram | ${best.decodeTokensPerSecond.toFixed(1)} `));
    assert.match(md, /!\[speedup per configuration\]\(speedup\.svg\)/);
  });

  it('shows each pass of a multi-pass end-to-end run beside the pooled figures', () => {
    const r = report(MULTI_PASS);
    const e = r.endToEnd[0];
    assert.ok((e.rounds ?? 1) > 1);
    const md = renderMarkdown(r);
    assert.ok(md.includes(`${e.prompts} FIM prompts × ${e.maxTokens} tokens, ${e.rounds} passes)`));
    assert.match(md, /\| \*\*speedup\*\* \| per pass \(median; each\) \| over all baseline runs \|/);
    for (const c of e.configs.slice(1)) {
      const passes = c.roundSpeedups ?? [];
      assert.equal(passes.length, e.rounds, c.name);
      const sorted = [...passes].sort((a, b) => a - b);
      const mid = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
      const cell = `**${c.speedup.toFixed(2)}×** | ${mid.toFixed(2)}×; ${passes.map((x) => `${x.toFixed(2)}×`).join(' ')} |`;
      assert.ok(md.includes(`| ${c.name} | `) && md.includes(cell), `${c.name}: ${cell}`);
    }
    // A single-pass report keeps its old columns.
    assert.doesNotMatch(renderMarkdown(report('e2e-s17')), /per pass/);
  });

  it('keeps every section of a full run', () => {
    const r = report('full');
    assert.ok(r.shapeModels.length > 0 && r.endToEnd.length > 0);
    const md = renderMarkdown(r);
    assert.match(md, /^# SpecQD benchmark \(full\)\n/);
    for (const heading of ['## Memory read bandwidth', '## Per-token costs', '### Verification of k tokens', '### MXFP4 decode',
      '## Trained models widened', '### End to end:']) {
      assert.ok(md.includes(heading), heading);
    }
    // One row per measured cell of the per-token cost table.
    const cells = r.shapeModels.reduce((n, s) => n + s.cells.length, 0);
    const section = md.slice(md.indexOf('## Per-token costs'), md.indexOf('### Verification of k tokens'));
    assert.equal(section.split('\n').filter((line) => /^\| (0\.5b|1\.5b)/.test(line)).length, cells);
  });
});
