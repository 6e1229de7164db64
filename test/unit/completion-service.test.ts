// The completion service with a scripted engine (debounce, cancellation, cache, FIM vs plain prompt) and with the
// real engine on a fixture model.
import * as assert from 'node:assert/strict';

import { CompletionService, type CompletionActivity, type CompletionSource } from '../../extension/completion-service';
import type { CompletionRequest, CompletionResult } from '../../extension/engine';
import { EngineManager } from '../../extension/engine-manager';
import { textLines } from '../../extension/prompt';
import { defaultSettings, type Settings } from '../../extension/settings';
import { completionModel } from './completion-model';
import { stories260K } from './shared-paths';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function result(text: string): CompletionResult {
  return {
    text, tokens: [1, 2], promptTokens: [3], stopReason: 'max_tokens',
    stats: { levels: [], promptTokens: 1, reusedTokens: 0, generatedTokens: 2, prefillMs: 1, decodeMs: 1, totalMs: 2, prefillTokensPerSecond: 1000, decodeTokensPerSecond: 2000 },
  };
}

/** An engine that answers `text` after `ms`, honouring the abort signal like the real facade. */
class ScriptedEngine {
  requests: CompletionRequest[] = [];
  aborted = 0;
  constructor(public text = ' world', public ms = 20) {}
  complete(request: CompletionRequest): Promise<CompletionResult> {
    this.requests.push(request);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(result(this.text)), this.ms);
      request.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        this.aborted++;
        const e = new Error('cancelled');
        e.name = 'AbortError';
        reject(e);
      });
    });
  }
}

function service(engine: ScriptedEngine, over: Partial<Settings> = {}, fim = true) {
  const activity: CompletionActivity['kind'][] = [];
  const settings: Settings = { ...defaultSettings, debounceMs: 0, ...over };
  const source: CompletionSource = { engine, fim, contextLength: 512 };
  const s = new CompletionService({ source: () => source, settings: () => settings, log: quiet, onActivity: (a) => activity.push(a.kind) });
  return { s, activity, settings };
}

const doc = (text: string, languageId = 'python') => ({ ...textLines(text), languageId });

describe('completion service', () => {
  it('asks the engine with prefix and suffix (FIM) and post-processes the answer', async () => {
    const engine = new ScriptedEngine('(a, b)\n\n\n');
    const { s, activity } = service(engine);
    const text = await s.provide(doc('def f\nprint(1)'), { line: 0, character: 5 });
    assert.equal(text, '(a, b)');
    const r = engine.requests[0];
    assert.equal(r?.prefix, 'def f');
    assert.equal(r?.suffix, '\nprint(1)');
    assert.equal(r?.prompt, undefined);
    assert.equal(r?.timeBudgetMs, defaultSettings.timeBudgetMs);
    assert.equal(r?.tokenHealing, true);
    assert.deepEqual(activity, ['started', 'finished']);
    assert.equal(s.last?.fromCache, false);
  });

  it('completes the prefix as a plain prompt when the model has no FIM tokens', async () => {
    const engine = new ScriptedEngine(' upon a time');
    const { s } = service(engine, {}, false);
    assert.equal(await s.provide(doc('Once', 'plaintext'), { line: 0, character: 4 }), ' upon a time');
    assert.equal(engine.requests[0]?.prompt, 'Once');
    assert.equal(engine.requests[0]?.prefix, undefined);
  });

  it('asks for one line (stop at newline, fewer tokens) when code sits right of the cursor', async () => {
    const engine = new ScriptedEngine('x + 1)');
    const { s } = service(engine);
    assert.equal(await s.provide(doc('y = f()'), { line: 0, character: 6 }), 'x + 1');
    assert.deepEqual(engine.requests[0]?.stop, ['\n']);
    assert.ok((engine.requests[0]?.maxTokens ?? 999) <= 48);
  });

  it('serves a repeated request and typing through from the cache, without the engine', async () => {
    const engine = new ScriptedEngine('return 42');
    const { s } = service(engine);
    assert.equal(await s.provide(doc('def f():\n    '), { line: 1, character: 4 }), 'return 42');
    assert.equal(await s.provide(doc('def f():\n    '), { line: 1, character: 4 }), 'return 42');
    assert.equal(await s.provide(doc('def f():\n    ret'), { line: 1, character: 7 }), 'urn 42');
    assert.equal(engine.requests.length, 1);
    assert.equal(s.last?.fromCache, true);
  });

  it('a new request aborts the one in flight, down to the engine', async () => {
    const engine = new ScriptedEngine('abc', 200);
    const { s } = service(engine);
    const first = s.provide(doc('a'), { line: 0, character: 1 });
    await new Promise((r) => setTimeout(r, 20));
    const second = s.provide(doc('ab'), { line: 0, character: 2 });
    assert.equal(await first, undefined);
    assert.equal(engine.aborted, 1);
    assert.equal(await second, 'abc');
  });

  it('the caller’s signal (the CancellationToken) aborts the request', async () => {
    const engine = new ScriptedEngine('abc', 200);
    const { s, activity } = service(engine);
    const controller = new AbortController();
    const pending = s.provide(doc('a'), { line: 0, character: 1 }, controller.signal);
    setTimeout(() => controller.abort(), 20);
    assert.equal(await pending, undefined);
    assert.equal(engine.aborted, 1);
    assert.deepEqual(activity, ['started', 'cancelled']);
  });

  it('debounces: requests replaced during the wait never reach the engine', async () => {
    const engine = new ScriptedEngine('z', 1);
    const { s } = service(engine, { debounceMs: 50 });
    const a = s.provide(doc('a'), { line: 0, character: 1 });
    const b = s.provide(doc('ab'), { line: 0, character: 2 });
    const c = s.provide(doc('abc'), { line: 0, character: 3 });
    assert.deepEqual(await Promise.all([a, b, c]), [undefined, undefined, 'z']);
    assert.equal(engine.requests.length, 1);
    assert.equal(engine.requests[0]?.prefix, 'abc');
  });

  it('does nothing when disabled, for a disabled language, or without an engine', async () => {
    const engine = new ScriptedEngine();
    assert.equal(await service(engine, { enabled: false }).s.provide(doc('a'), { line: 0, character: 1 }), undefined);
    assert.equal(await service(engine, { languages: { '*': true, python: false } }).s.provide(doc('a'), { line: 0, character: 1 }), undefined);
    const none = new CompletionService({ source: () => undefined, settings: () => defaultSettings, log: quiet });
    assert.equal(await none.provide(doc('a'), { line: 0, character: 1 }), undefined);
    assert.equal(engine.requests.length, 0);
  });

  it('completes with the real engine on the fixture model', async function () {
    this.timeout(30000);
    const model = completionModel();
    const manager = new EngineManager(quiet);
    await manager.configure({ target: model.path, threads: 1 });
    const loaded = manager.loaded;
    assert.ok(loaded, JSON.stringify(manager.state));
    assert.equal(loaded.info.fim, model.fim);
    const s = new CompletionService({
      source: () => ({ engine: loaded.engine, fim: loaded.info.fim, contextLength: loaded.info.contextLength }),
      settings: () => ({ ...defaultSettings, debounceMs: 0, maxTokens: 24 }),
      log: quiet,
    });
    const text = model.fim ? 'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    ' : 'Once upon a time, there was a';
    const lines = textLines(text);
    const cursor = { line: lines.lineCount - 1, character: lines.lineText(lines.lineCount - 1).length };
    const first = await s.provide({ ...lines, languageId: 'python' }, cursor);
    assert.equal(s.last?.fromCache, false);
    assert.ok(s.last?.result && s.last.result.stats.generatedTokens > 0);
    // Greedy decoding: the same prompt gives the same text; the second answer comes from the cache.
    const second = await s.provide({ ...lines, languageId: 'python' }, cursor);
    assert.equal(second, first);
    assert.equal(s.last?.fromCache, true);
    manager.dispose();
  });

  it('completes a plain prefix prompt with the real engine on a model without FIM tokens', async function () {
    this.timeout(30000);
    const manager = new EngineManager(quiet);
    await manager.configure({ target: stories260K, threads: 1 });
    const loaded = manager.loaded;
    assert.ok(loaded);
    assert.equal(loaded.info.fim, false);
    const s = new CompletionService({
      source: () => ({ engine: loaded.engine, fim: loaded.info.fim, contextLength: loaded.info.contextLength }),
      settings: () => ({ ...defaultSettings, debounceMs: 0, maxTokens: 16 }),
      log: quiet,
    });
    const text = await s.provide({ ...textLines('Once upon a time'), languageId: 'plaintext' }, { line: 0, character: 16 });
    assert.ok(text && text.length > 0);
    assert.ok(s.last?.result && s.last.result.promptTokens.length > 1);
    manager.dispose();
  });
});
