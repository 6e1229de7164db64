// Prompt building: the text around the cursor within line and character budgets.
import * as assert from 'node:assert/strict';

import { buildPrompt, promptBudget, textLines, type PromptBudget } from '../../extension/prompt';

const wide: PromptBudget = { prefixLines: 1000, suffixLines: 1000, prefixChars: 1e6, suffixChars: 1e6 };

describe('prompt', () => {
  const doc = textLines('a0\na1\nfoo(bar)\na3\na4');

  it('splits the document at the cursor', () => {
    const p = buildPrompt(doc, { line: 2, character: 4 }, wide);
    assert.equal(p.prefix, 'a0\na1\nfoo(');
    assert.equal(p.suffix, 'bar)\na3\na4');
    assert.equal(p.linePrefix, 'foo(');
    assert.equal(p.lineSuffix, 'bar)');
    assert.deepEqual(p.nextLines, ['a3', 'a4']);
  });

  it('keeps whole lines within the line budgets', () => {
    const p = buildPrompt(doc, { line: 2, character: 4 }, { ...wide, prefixLines: 1, suffixLines: 1 });
    assert.equal(p.prefix, 'a1\nfoo(');
    assert.equal(p.suffix, 'bar)\na3');
    const none = buildPrompt(doc, { line: 2, character: 4 }, { ...wide, prefixLines: 0, suffixLines: 0 });
    assert.equal(none.prefix, 'foo(');
    assert.equal(none.suffix, 'bar)');
  });

  it('keeps the text nearest the cursor within the character budgets', () => {
    const p = buildPrompt(doc, { line: 2, character: 4 }, { ...wide, prefixChars: 8, suffixChars: 7 });
    assert.equal(p.prefix, 'a1\nfoo(');
    assert.equal(p.suffix, 'bar)\na3');
    const tight = buildPrompt(doc, { line: 2, character: 4 }, { ...wide, prefixChars: 2, suffixChars: 2 });
    assert.equal(tight.prefix, 'o(');
    assert.equal(tight.suffix, 'ba');
  });

  it('clamps a cursor past the end of its line or the document', () => {
    const p = buildPrompt(doc, { line: 9, character: 99 }, wide);
    assert.equal(p.linePrefix, 'a4');
    assert.equal(p.lineSuffix, '');
    assert.equal(p.suffix, '');
    assert.deepEqual(p.nextLines, []);
  });

  it('reads \\r\\n documents as lines', () => {
    const p = buildPrompt(textLines('x\r\ny\r\n'), { line: 1, character: 1 }, wide);
    assert.equal(p.prefix, 'x\ny');
    assert.equal(p.suffix, '\n');
  });

  it('derives character budgets from the context: 3/4 prefix, 1/4 suffix, room for the output', () => {
    const b = promptBudget(512, 128, { prefixLines: 256, suffixLines: 64 });
    assert.equal(b.prefixLines, 256);
    assert.equal(b.prefixChars, Math.floor((512 - 128 - 8) * 3 * 0.75));
    assert.equal(b.suffixChars, Math.floor((512 - 128 - 8) * 3 * 0.25));
    assert.ok(promptBudget(100, 4096, { prefixLines: 1, suffixLines: 1 }).prefixChars > 0);
  });
});
