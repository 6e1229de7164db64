// Post-processing golden cases: single- vs multi-line, de-indent out of the block, repeats of the suffix.
import * as assert from 'node:assert/strict';

import { indentWidth, postprocess, type PostprocessContext } from '../../extension/postprocess';

const ctx = (over: Partial<PostprocessContext>): PostprocessContext => ({
  linePrefix: '', lineSuffix: '', nextLines: [], maxLines: 16, ...over,
});

describe('postprocess', () => {
  it('measures indentation with tabs', () => {
    assert.equal(indentWidth('    x'), 4);
    assert.equal(indentWidth('\tx', 4), 4);
    assert.equal(indentWidth('  \tx', 4), 4);
    assert.equal(indentWidth('x'), 0);
  });

  it('keeps one line when code sits right of the cursor, without re-typing it', () => {
    assert.equal(postprocess('a, b)\n    return x', ctx({ linePrefix: 'f(', lineSuffix: ')' })), 'a, b');
    assert.equal(postprocess('name]\n', ctx({ linePrefix: 'x = d[', lineSuffix: '] + 1' })), 'name');
    assert.equal(postprocess(')', ctx({ linePrefix: 'f(', lineSuffix: ')' })), undefined);
    assert.equal(postprocess('g(x)', ctx({ linePrefix: 'f(', lineSuffix: ')' })), 'g(x)', 'a matched ) stays');
    assert.equal(postprocess('x;', ctx({ linePrefix: 'let a = ', lineSuffix: ';' })), 'x');
    assert.equal(postprocess('\nfoo', ctx({ linePrefix: 'f(', lineSuffix: ')' })), undefined);
  });

  it('stops a multi-line completion where the code de-indents out of the cursor block', () => {
    const raw = 'x = 1\n    y = 2\n\ndef other():\n    pass';
    assert.equal(postprocess(raw, ctx({ linePrefix: '    ' })), 'x = 1\n    y = 2');
  });

  it('keeps a block the cursor line opens, and its closing line', () => {
    const raw = '\n  return a + b;\n}\nfunction next() {}';
    assert.equal(postprocess(raw, ctx({ linePrefix: 'function add(a, b) {' })), '\n  return a + b;\n}');
    const py = '\n    return n\n\nprint(1)';
    assert.equal(postprocess(py, ctx({ linePrefix: 'def f(n):' })), '\n    return n');
  });

  it('does not repeat the next line of the document', () => {
    const raw = 'a = 1\nb = 2\nc = 3';
    assert.equal(postprocess(raw, ctx({ nextLines: ['', 'b = 2', 'c = 3'] })), 'a = 1');
    assert.equal(postprocess('b = 2\nc = 3', ctx({ nextLines: ['b = 2', 'c = 3'] })), undefined);
    assert.equal(postprocess('1', ctx({ linePrefix: 'x = ', nextLines: ['1 + 2'] })), '1', 'too short to be a repeat');
  });

  it('limits the number of lines and trims trailing blank lines', () => {
    assert.equal(postprocess('1\n2\n3\n4', ctx({ maxLines: 2 })), '1\n2');
    assert.equal(postprocess('1\n\n\n', ctx({})), '1');
  });

  it('drops empty output', () => {
    assert.equal(postprocess('', ctx({})), undefined);
    assert.equal(postprocess('  \n \n', ctx({})), undefined);
  });

  it('normalizes \\r\\n', () => {
    assert.equal(postprocess('a\r\nb', ctx({})), 'a\nb');
  });
});
