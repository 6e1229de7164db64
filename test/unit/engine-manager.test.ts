// The engine lifecycle with the real addon: background load, problems with reasons, reload on option changes,
// stale loads dropped, dispose.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { EngineManager, type EngineState } from '../../extension/engine-manager';
import { stories260K } from './shared-paths';
import { completionModel } from './completion-model';

function recorder() {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) } };
}

describe('engine manager', function () {
  this.timeout(30000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-manager-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('starts with no model and loads one in the background', async () => {
    const { log } = recorder();
    const m = new EngineManager(log);
    const states: EngineState['kind'][] = [];
    m.onDidChangeState((s) => states.push(s.kind));
    assert.equal(m.state.kind, 'no-model');
    const done = m.configure({ target: stories260K, threads: 1 });
    assert.equal(m.state.kind, 'loading', 'configure returns before the load finishes');
    await done;
    assert.equal((m.state as EngineState).kind, 'ready');
    assert.equal(m.loaded?.info.architecture, 'llama');
    assert.deepEqual(states, ['loading', 'ready']);
    m.dispose();
  });

  it('does not reload for the same options, reloads for new ones, and closes the old engine', async () => {
    const { log } = recorder();
    const m = new EngineManager(log);
    await m.configure({ target: stories260K, threads: 1 });
    const first = m.loaded?.engine;
    await m.configure({ target: stories260K, threads: 1 });
    assert.equal(m.loaded?.engine, first);
    const model = completionModel();
    await m.configure({ target: model.path, threads: 1 });
    assert.notEqual(m.loaded?.engine, first);
    await assert.rejects(first!.complete({ prompt: 'a', maxTokens: 1 }), /closed/);
    await m.configure(undefined);
    assert.equal(m.state.kind, 'no-model');
    m.dispose();
  });

  it('reports a missing file', async () => {
    const { log, lines } = recorder();
    const m = new EngineManager(log);
    await m.configure({ target: path.join(tmp, 'nope.gguf') });
    assert.equal(m.state.kind, 'error');
    assert.equal(m.state.kind === 'error' && m.state.problem.reason, 'missing');
    assert.ok(lines.some((l) => /not found/.test(l)));
  });

  it('reports a corrupt file', async () => {
    const bad = path.join(tmp, 'bad.gguf');
    fs.writeFileSync(bad, 'GGUF this is not a model');
    const m = new EngineManager(recorder().log);
    await m.configure({ target: bad });
    assert.equal(m.state.kind === 'error' && m.state.problem.reason, 'corrupt');
  });

  it('reports an unsupported model from inspect', async () => {
    const m = new EngineManager(recorder().log, {
      inspect: (p) => Promise.resolve({ path: p, supported: false, unsupportedReason: 'architecture gpt9', architecture: 'gpt9' } as never),
      load: () => Promise.reject(new Error('not reached')),
    });
    await m.configure({ target: stories260K });
    assert.equal(m.state.kind === 'error' && m.state.problem.reason, 'unsupported');
    assert.match(m.state.kind === 'error' ? m.state.problem.message : '', /gpt9/);
  });

  it('turns an allocation failure into an out-of-memory problem', async () => {
    const m = new EngineManager(recorder().log, {
      inspect: (p) => Promise.resolve({ path: p, supported: true } as never),
      load: () => Promise.reject(new Error('cannot allocate 40 GiB')),
    });
    await m.configure({ target: stories260K });
    assert.equal(m.state.kind === 'error' && m.state.problem.reason, 'out-of-memory');
  });

  it('loads without the MXFP4 level when this build lacks it, and with n-gram drafts', async () => {
    const { log, lines } = recorder();
    const m = new EngineManager(log);
    await m.configure({ target: completionModel().path, threads: 1, levels: ['target', 'mxfp4', 'ngram'] });
    assert.equal(m.state.kind, 'ready', JSON.stringify(m.state));
    assert.ok(!m.loaded?.info.levels.includes('mxfp4') || lines.every((l) => !/not available/.test(l)));
    assert.ok(m.loaded?.info.levels.includes('ngram'));
    m.dispose();
  });

  it('drops a load that a newer configuration replaced', async () => {
    const m = new EngineManager(recorder().log);
    const states: string[] = [];
    m.onDidChangeState((s) => states.push(s.kind === 'ready' || s.kind === 'loading' ? `${s.kind}:${path.basename(s.target)}` : s.kind));
    const model = completionModel();
    const a = m.configure({ target: stories260K, threads: 1 });
    const b = m.configure({ target: model.path, threads: 1 });
    await Promise.all([a, b]);
    assert.equal(m.state.kind, 'ready');
    assert.deepEqual(states, [`loading:${path.basename(stories260K)}`, `loading:${path.basename(model.path)}`, `ready:${path.basename(model.path)}`]);
    m.dispose();
  });

  it('restarts with the same options, and after dispose does nothing', async () => {
    const m = new EngineManager(recorder().log);
    await m.configure({ target: stories260K, threads: 1 });
    const first = m.loaded?.engine;
    await m.restart();
    assert.equal(m.state.kind, 'ready');
    assert.notEqual(m.loaded?.engine, first);
    const engine = m.loaded!.engine;
    m.dispose();
    await assert.rejects(engine.complete({ prompt: 'a', maxTokens: 1 }), /closed/);
    await m.configure({ target: stories260K });
    assert.equal(m.loaded, undefined);
  });

  it('a running completion on the real engine stops when its signal aborts', async () => {
    const m = new EngineManager(recorder().log);
    await m.configure({ target: stories260K, threads: 1 });
    const controller = new AbortController();
    const pending = m.loaded!.engine.complete({ prompt: 'Once upon a time', maxTokens: 100000, signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
    m.dispose();
  });
});
