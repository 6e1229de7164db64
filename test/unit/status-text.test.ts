// Status bar words and the stats report: every state, throughput, and acceptance only when measured.
import * as assert from 'node:assert/strict';

import type { EngineStats } from '../../extension/engine';
import { levelAcceptance, statsReport, statusText, throughputText } from '../../extension/status-text';

const stats = { levels: [], promptTokens: 30, reusedTokens: 10, generatedTokens: 20, prefillMs: 5, decodeMs: 100, totalMs: 105, prefillTokensPerSecond: 6000, decodeTokensPerSecond: 200 };
const outcome = { text: 'x', fromCache: false, latencyMs: 123, result: { text: 'x', tokens: [], promptTokens: [], stopReason: 'eog' as const, stats } };

describe('status text', () => {
  it('names every state', () => {
    assert.match(statusText({ state: { kind: 'no-model' }, enabled: true, generating: false }).text, /no model/);
    assert.match(statusText({ state: { kind: 'loading', target: '/m' }, enabled: true, generating: false }).text, /loading/);
    const error = statusText({ state: { kind: 'error', target: '/m', problem: { reason: 'missing', message: 'Model file not found: /m', detail: '' } }, enabled: true, generating: false });
    assert.match(error.text, /error/);
    assert.equal(error.tooltip, 'Model file not found: /m');
    assert.equal(error.severity, 'error');
    assert.match(statusText({ state: { kind: 'ready', target: '/m' }, enabled: false, generating: false }).text, /off/);
    assert.match(statusText({ state: { kind: 'ready', target: '/m' }, enabled: true, generating: false }).text, /SpecQD ready/);
    assert.match(statusText({ state: { kind: 'ready', target: '/m' }, enabled: true, generating: true }).text, /sync~spin/);
  });

  it('shows tokens/s and the last latency', () => {
    assert.equal(throughputText(outcome), '200 tok/s · 123 ms');
    assert.equal(throughputText({ text: 'x', fromCache: true, latencyMs: 1 }), '1 ms (cache)');
  });

  it('shows per-level acceptance only when the stats carry it', () => {
    assert.deepEqual(levelAcceptance(stats), []);
    const level = (name: string, proposed: number, accepted: number) => ({ name, rounds: 1, proposed, accepted, acceptance: proposed ? accepted / proposed : 0, meanDraftLength: proposed, branches: 0, branchesKept: 0, ms: 1 });
    const withLevels = { ...stats, levels: [level('target', 0, 0), level('mxfp4', 100, 81), level('ngram', 0, 0)] };
    assert.deepEqual(levelAcceptance(withLevels), [{ name: 'mxfp4', acceptance: 0.81 }]);
    assert.equal(throughputText({ ...outcome, result: { ...outcome.result, stats: withLevels } }), '200 tok/s · mxfp4 81% · 123 ms');
  });

  it('writes a stats report with the engine figures', () => {
    const engineStats: EngineStats = { levels: [], requests: 3, cancelled: 1, promptTokens: 90, reusedTokens: 40, generatedTokens: 60, prefillMs: 15, decodeMs: 300, prefillTokensPerSecond: 6000, decodeTokensPerSecond: 200, last: stats };
    const text = statsReport({
      state: { kind: 'ready', target: '/m.gguf' }, enabled: true, cacheEntries: 2, stats: engineStats, last: outcome,
      info: { architecture: 'qwen2', contextLength: 512, threads: 2, fim: true, kernelPath: 'avx2', levels: ['target'] },
    });
    assert.match(text, /state {8}ready \(\/m\.gguf\)/);
    assert.match(text, /requests {5}3 \(1 cancelled\)/);
    assert.match(text, /generated {4}60 tokens, 200 tok\/s/);
    assert.match(text, /qwen2, context 512, 2 threads, FIM yes/);
    assert.match(text, /last {9}123 ms to ghost text/);
    assert.doesNotMatch(text, /acceptance/);
  });
});
