// Fast typing: 1,000 overlapping completion requests with random cancellation. Every promise settles (fulfilled or
// rejected with AbortError, nothing else), the engine keeps giving the right answer, and resident memory stays
// flat after warm-up.
import * as assert from 'node:assert/strict';

import { Engine } from '../../extension/engine';
import { stories260K } from './shared-paths';

const GREEDY_IDS = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337];
// Bound on resident-memory growth over the 1,000 requests after a warm-up round (stated in docs/robustness.md).
const RSS_GROWTH_LIMIT_BYTES = 32 * 1024 * 1024;

// A small seeded generator, so a failure can be replayed.
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('engine under load', function () {
  this.timeout(120_000);

  it('settles 1,000 overlapping requests with random cancellation; memory stays flat', async () => {
    const engine = await Engine.load({ target: stories260K, threads: 2, contextLength: 512, levels: ['target', 'ngram'] });
    const random = lcg(12345);
    const words = ['Once', 'upon', 'a', 'time', 'there', 'was', 'a', 'little', 'dog', 'named', 'Max'];
    const round = async (n: number): Promise<{ fulfilled: number; aborted: number }> => {
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        const controller = new AbortController();
        const prompt = words.slice(0, 1 + Math.floor(random() * words.length)).join(' ');
        pending.push(engine.complete({ prompt, maxTokens: 1 + Math.floor(random() * 12), signal: controller.signal }));
        const when = random();
        if (when < 0.3) controller.abort();  // typed over before it started
        else if (when < 0.6) setTimeout(() => controller.abort(), Math.floor(random() * 3));  // while it runs
      }
      const settled = await Promise.allSettled(pending);
      let fulfilled = 0;
      let aborted = 0;
      for (const s of settled) {
        if (s.status === 'fulfilled') fulfilled += 1;
        else if (s.reason instanceof Error && s.reason.name === 'AbortError') aborted += 1;
        else assert.fail(`unexpected rejection: ${String(s.reason)}`);
      }
      return { fulfilled, aborted };
    };
    try {
      await round(200);  // warm-up: caches, thread pool, allocator
      const rssBefore = process.memoryUsage().rss;
      const { fulfilled, aborted } = await round(1000);
      const growth = process.memoryUsage().rss - rssBefore;
      assert.equal(fulfilled + aborted, 1000);
      assert.ok(fulfilled > 100 && aborted > 100, `fulfilled ${fulfilled}, aborted ${aborted}`);
      assert.ok(growth < RSS_GROWTH_LIMIT_BYTES, `resident memory grew by ${growth} bytes`);
      const r = await engine.complete({ prompt: 'Once upon a time', maxTokens: 16 });
      assert.deepEqual(r.tokens, GREEDY_IDS);
      assert.equal(engine.stats().requests >= fulfilled, true);
    } finally {
      engine.close();
    }
  });

  it('closing during a request settles it and frees nothing twice', async () => {
    for (let i = 0; i < 20; i++) {
      const engine = await Engine.load({ target: stories260K, threads: 2, contextLength: 256 });
      const running = engine.complete({ prompt: 'Once upon a time', maxTokens: 200 });
      engine.close();
      const outcome = await running.then(
        () => 'fulfilled',
        (e: unknown) => (e instanceof Error ? e.name : 'other'),
      );
      assert.ok(outcome === 'fulfilled' || outcome === 'AbortError' || outcome === 'Error', outcome);
    }
  });
});
