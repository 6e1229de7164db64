// The completion cache: exact hits, typing through a shown suggestion, LRU eviction.
import * as assert from 'node:assert/strict';

import { CompletionCache } from '../../extension/completion-cache';

describe('completion cache', () => {
  it('answers the same prompt with the same completion', () => {
    const cache = new CompletionCache();
    cache.put('def f(', '):', 'a, b');
    assert.deepEqual(cache.get('def f(', '):'), { completion: 'a, b', typed: 0 });
    assert.equal(cache.get('def f(', ')'), undefined);
    assert.equal(cache.get('def g(', '):'), undefined);
  });

  it('serves the rest of a completion while the user types through it', () => {
    const cache = new CompletionCache();
    cache.put('x = ', '', 'compute(1)\ny = 2');
    assert.deepEqual(cache.get('x = comp', ''), { completion: 'ute(1)\ny = 2', typed: 4 });
    assert.deepEqual(cache.get('x = compute(1)\n', ''), { completion: 'y = 2', typed: 11 });
    assert.equal(cache.get('x = compx', ''), undefined, 'typed text that diverges misses');
    assert.equal(cache.get('x = compute(1)\ny = 2', ''), undefined, 'a fully typed completion misses');
  });

  it('still finds the entry when the prefix lost lines at the top (a budget cut)', () => {
    const cache = new CompletionCache();
    const head = 'h'.repeat(5000);
    cache.put(`${head}\nfoo = `, 's', 'bar()');
    assert.deepEqual(cache.get(`${head.slice(100)}\nfoo = ba`, 's'), { completion: 'r()', typed: 2 });
  });

  it('evicts the least recently used entry', () => {
    const cache = new CompletionCache(2);
    cache.put('a', '', '1');
    cache.put('b', '', '2');
    assert.ok(cache.get('a', ''));
    cache.put('c', '', '3');
    assert.equal(cache.size, 2);
    assert.ok(cache.get('a', ''));
    assert.equal(cache.get('b', ''), undefined);
    cache.clear();
    assert.equal(cache.size, 0);
  });

  it('walks back at most maxTyped characters', () => {
    const cache = new CompletionCache(10, 3);
    cache.put('p', '', 'abcdef');
    assert.ok(cache.get('pabc', ''));
    assert.equal(cache.get('pabcd', ''), undefined);
  });
});
