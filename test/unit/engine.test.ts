// The engine through the addon on stories260K: llama.cpp's greedy ids, prefix reuse, cancellation, bad input.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Engine, type EngineOptions, type LevelStats } from '../../extension/engine';
import { repoRoot, stories260K } from './shared-paths';

// llama.cpp's tokens for BOS + "Once upon a time" and its first 16 greedy tokens (shared/models/README.md).
const PROMPT_IDS = [1, 403, 407, 261, 378];
const GREEDY_IDS = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337];

describe('Engine (native addon)', function () {
  this.timeout(60_000);
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ target: stories260K, threads: 2, contextLength: 512 });
  });
  after(() => engine.close());

  it('completes greedily with the same tokens as llama.cpp', async () => {
    const r = await engine.complete({ prompt: 'Once upon a time', maxTokens: 16 });
    assert.deepEqual(r.promptTokens, PROMPT_IDS);
    assert.deepEqual(r.tokens, GREEDY_IDS);
    assert.ok(r.text.startsWith(', there was a little girl named Lily. She loved to play'));
    assert.equal(r.stopReason, 'max_tokens');
    assert.equal(r.stats.generatedTokens, 16);
    assert.ok(r.stats.decodeTokensPerSecond > 0);
  });

  it('heals the prompt\'s last token on request: a word cut in half is finished', async () => {
    const prompt = 'Once upon a time, there was a little gi';
    const cut = await engine.complete({ prompt, maxTokens: 8, tokenHealing: true });
    assert.ok(cut.text.startsWith('rl named Lily'), cut.text);
    const asIs = await engine.complete({ prompt, maxTokens: 8 });
    assert.equal(cut.promptTokens.length, asIs.promptTokens.length - 1);
    assert.ok(!asIs.text.startsWith('rl'), asIs.text);
    // The whole word: healing re-types it with one token and the completion is the plain one.
    const whole = await engine.complete({ prompt: 'Once upon a time', maxTokens: 17, tokenHealing: true });
    assert.deepEqual(whole.tokens.slice(1), GREEDY_IDS);
    assert.ok(whole.text.startsWith(', there was a little girl named Lily.'), whole.text);
  });

  it('reuses the cached prompt prefix and counts it', async () => {
    const r = await engine.complete({ prompt: 'Once upon a time', maxTokens: 4 });
    assert.equal(r.stats.reusedTokens, PROMPT_IDS.length - 1);
    const s = engine.stats();
    assert.ok(s.requests >= 2);
    assert.ok(s.reusedTokens >= PROMPT_IDS.length - 1);
    assert.equal(s.last.generatedTokens, 4);
  });

  it('rejects an aborted request with AbortError, and keeps working', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(engine.complete({ prompt: 'Once upon a time', maxTokens: 8, signal: controller.signal }), {
      name: 'AbortError',
    });
    // Abort while running: a long request stops after its current forward pass.
    const running = new AbortController();
    const long = engine.complete({ prompt: 'Once upon a time', maxTokens: 400, signal: running.signal });
    setTimeout(() => running.abort(), 1);
    await assert.rejects(long, { name: 'AbortError' });
    const r = await engine.complete({ prompt: 'Once upon a time', maxTokens: 16 });
    assert.deepEqual(r.tokens, GREEDY_IDS);
  });

  it('settles every one of many overlapping requests, in order', async () => {
    const controllers = Array.from({ length: 40 }, () => new AbortController());
    const all = controllers.map((c, i) =>
      engine.complete({ prompt: `Once upon a time${' there'.repeat(i % 5)}`, maxTokens: 6, signal: c.signal }),
    );
    controllers.forEach((c, i) => {
      if (i % 3 === 0) c.abort();
    });
    const settled = await Promise.allSettled(all);
    settled.forEach((s, i) => {
      if (i % 3 === 0) assert.equal(s.status, 'rejected');
      else assert.equal(s.status, 'fulfilled');
    });
  });

  it('refuses bad input with clear messages', async () => {
    await assert.rejects(engine.complete({ prompt: 'x'.repeat(3000), maxTokens: 4 }), /longer than the context length/);
    await assert.rejects(engine.complete({ prefix: 'a', suffix: 'b', maxTokens: 4 }), /fill-in-the-middle/);
    await assert.rejects(engine.complete({ prompt: 'a', maxTokens: -1 }), /maxTokens/);
    await assert.rejects(Engine.load({ target: path.join(repoRoot, 'no-such-model.gguf') }), /cannot open/);
    const r = await engine.complete({ prompt: 'Once upon a time', maxTokens: 0 });
    assert.deepEqual(r.tokens, []);
  });

  it('bin/specqd complete --json prints llama.cpp\'s ids', () => {
    const cli = path.join(repoRoot, 'bin', 'specqd');
    const out = spawnSync(
      process.execPath,
      [cli, 'complete', '--model', stories260K, '--prompt', 'Once upon a time', '--max-tokens', '16', '--json'],
      { encoding: 'utf8' },
    );
    assert.equal(out.status, 0, out.stderr);
    const json = JSON.parse(out.stdout) as { tokens: number[]; promptTokens: number[]; text: string };
    assert.deepEqual(json.promptTokens, PROMPT_IDS);
    assert.deepEqual(json.tokens, GREEDY_IDS);
  });

  it('a speculation stack gives exactly the target\'s tokens and reports each level', async () => {
    const plain = await engine.complete({ prompt: 'Once upon a time', maxTokens: 48 });
    const stacked = await Engine.load({ target: stories260K, threads: 2, contextLength: 512, levels: ['target', 'ngram'] });
    try {
      assert.deepEqual(stacked.info().levels, ['target', 'ngram']);
      const r = await stacked.complete({ prompt: 'Once upon a time', maxTokens: 48 });
      assert.deepEqual(r.tokens, plain.tokens);
      assert.equal(r.stats.levels.length, 2);
      const ngram = r.stats.levels[1];
      assert.equal(ngram?.name, 'ngram');
      assert.ok((ngram?.accepted ?? -1) <= (ngram?.proposed ?? 0));
      assert.equal(stacked.stats().levels.length, 2);
    } finally {
      stacked.close();
    }
  });

  it('a drafting level with a head over part of the vocabulary (draftVocab) leaves the tokens unchanged', async () => {
    const plain = await engine.complete({ prompt: 'Once upon a time', maxTokens: 48 });
    // stories260K has 512 tokens: the MXFP4 level may propose only ids below 200 (and end of text).
    const limited = await Engine.load({ target: stories260K, threads: 2, contextLength: 512, levels: ['target', 'mxfp4'], draftVocab: 200 });
    try {
      const r = await limited.complete({ prompt: 'Once upon a time', maxTokens: 48 });
      assert.deepEqual(r.tokens, plain.tokens);
      const mxfp4 = r.stats.levels[1];
      assert.equal(mxfp4?.name, 'mxfp4');
      assert.ok((mxfp4?.proposed ?? 0) > 0, 'the limited level drafted');
    } finally {
      limited.close();
    }
    for (const bad of [-1, 1.5, '100' as unknown as number]) {
      await assert.rejects(Engine.load({ target: stories260K, levels: ['target', 'mxfp4'], draftVocab: bad }), /draftVocab/);
    }
  });

  it('maxDraft caps every draft and leaves the tokens unchanged', async () => {
    // Prompt lookup on a story that repeats itself drafts long runs unless capped.
    const request = { prompt: 'Lily and Ben went to the park. Lily and Ben went to the park. Lily and Ben went to the', maxTokens: 64 };
    const plain = await engine.complete(request);
    const ngramStats = async (options: Partial<EngineOptions>): Promise<LevelStats> => {
      const stacked = await Engine.load({ target: stories260K, threads: 2, contextLength: 512, levels: ['target', 'ngram'], ...options });
      try {
        const r = await stacked.complete(request);
        assert.deepEqual(r.tokens, plain.tokens);
        const ngram = r.stats.levels[1];
        assert.ok(ngram !== undefined && ngram.rounds > 0, 'prompt lookup drafted');
        return ngram;
      } finally {
        stacked.close();
      }
    };
    for (const adaptiveDrafts of [true, false]) {
      const maxDraft = adaptiveDrafts ? 2 : 3;
      const free = await ngramStats({ adaptiveDrafts });
      assert.ok(free.proposed > maxDraft * free.rounds, `uncapped: ${free.proposed} tokens in ${free.rounds} rounds`);
      const capped = await ngramStats({ adaptiveDrafts, maxDraft });
      assert.ok(capped.proposed <= maxDraft * capped.rounds, `capped at ${maxDraft}: ${capped.proposed} tokens in ${capped.rounds} rounds`);
    }
    for (const bad of [0, 17, 2.5, '4' as unknown as number]) {
      await assert.rejects(Engine.load({ target: stories260K, levels: ['target', 'ngram'], maxDraft: bad }), /maxDraft/);
    }
  });

  it('maxBranches 0 verifies no runner-up tokens; every setting leaves the tokens unchanged', async () => {
    const request = { prompt: 'Once upon a time', maxTokens: 48 };
    const plain = await engine.complete(request);
    for (const maxBranches of [0, 8]) {
      const stacked = await Engine.load({ target: stories260K, threads: 2, contextLength: 512, levels: ['target', 'mxfp4'], maxBranches });
      try {
        const r = await stacked.complete(request);
        assert.deepEqual(r.tokens, plain.tokens);
        const mxfp4 = r.stats.levels[1];
        assert.ok(mxfp4 !== undefined && mxfp4.proposed > 0, 'the MXFP4 level drafted');
        assert.ok(mxfp4.branchesKept <= mxfp4.branches);
        if (maxBranches === 0) assert.equal(mxfp4.branches, 0);
      } finally {
        stacked.close();
      }
    }
    for (const bad of [-1, 9, 1.5, '2' as unknown as number]) {
      await assert.rejects(Engine.load({ target: stories260K, levels: ['target', 'mxfp4'], maxBranches: bad }), /maxBranches/);
    }
  });

  it('copies the weights into memory by default, and maps the file with mapWeights; same tokens', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-map-'));
    const file = path.join(dir, 'stories-copy.gguf');
    fs.copyFileSync(stories260K, file);
    const mapsName = (): boolean => fs.readFileSync('/proc/self/maps', 'utf8').includes(file);
    const copied = await Engine.load({ target: file, threads: 1, contextLength: 256 });
    const mapped = await Engine.load({ target: file, threads: 1, contextLength: 256, mapWeights: true });
    try {
      const a = await copied.complete({ prompt: 'Once upon a time', maxTokens: 16 });
      const b = await mapped.complete({ prompt: 'Once upon a time', maxTokens: 16 });
      assert.deepEqual(a.tokens, GREEDY_IDS);
      assert.deepEqual(b.tokens, GREEDY_IDS);
      if (process.platform === 'linux') {
        assert.equal(mapsName(), true, 'the mapped engine maps the file');
        mapped.close();
        await new Promise((resolve) => setTimeout(resolve, 100));  // close frees the model once its requests end
        assert.equal(mapsName(), false, 'the copying engine keeps no map of the file');
      }
    } finally {
      copied.close();
      mapped.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses stacks it cannot build', async () => {
    await assert.rejects(Engine.load({ target: stories260K, levels: ['target', 'draft'] }), /needs a draft model/);
    await assert.rejects(Engine.load({ target: stories260K, levels: ['ngram', 'target'] }), /first speculation level/);
    await assert.rejects(
      Engine.load({ target: stories260K, levels: ['target', 'bogus' as 'ngram'] }),
      /unknown speculation level "bogus"/,
    );
  });

  it('a closed engine refuses new requests', async () => {
    const e = await Engine.load({ target: stories260K, threads: 1 });
    e.close();
    e.close();
    await assert.rejects(e.complete({ prompt: 'a', maxTokens: 1 }), /closed/);
  });
});
