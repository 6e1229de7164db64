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

  it('stops before a line where the model loops, or a line repeating the one before', () => {
    const loop = 'x = f(a)\n    assert (arg, (x, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1'; // 2-char unit, then ", 1" x 6+
    assert.equal(postprocess(loop, ctx({ linePrefix: '    ' })), 'x = f(a)');
    assert.equal(postprocess('(bool, (bool, (bool, (bool, (bool, (bool, (bool, (bool', ctx({ linePrefix: '    if ' })), undefined);
    const repeated = 'return self.dps\n\n    def _get_text(self):\n        return self.dps\n\n    def _get_text(self):\n        return 1';
    assert.equal(postprocess(repeated, ctx({ linePrefix: '        ' })), 'return self.dps');
    // Real code that repeats a little is kept: short closers, a four-element list.
    assert.equal(postprocess('f(\n        1,\n        1,\n    )', ctx({ linePrefix: '    x = ' })), 'f(\n        1,\n        1,\n    )');
    assert.equal(postprocess('m = [0, 0, 0, 0]', ctx({ linePrefix: '' })), 'm = [0, 0, 0, 0]');
  });

  it('shows whole lines only when the generation was cut by the token limit', () => {
    assert.equal(postprocess('a = 1\n    b = f(x, ', ctx({ linePrefix: '    ', truncated: true })), 'a = 1');
    assert.equal(postprocess('a = 1\n    b = f(x, ', ctx({ linePrefix: '    ' })), 'a = 1\n    b = f(x,');
    assert.equal(postprocess('a = f(x, ', ctx({ linePrefix: '    ', truncated: true })), 'a = f(x,');
  });

  it('drops empty output', () => {
    assert.equal(postprocess('', ctx({})), undefined);
    assert.equal(postprocess('  \n \n', ctx({})), undefined);
  });

  it('normalizes \\r\\n', () => {
    assert.equal(postprocess('a\r\nb', ctx({})), 'a\nb');
  });
});
