import * as assert from 'node:assert/strict';

import { formatBytes, formatCount } from '../../extension/cli/format';

describe('cli format', () => {
  it('formats byte sizes with binary units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(1185376), '1.1 MiB');
    assert.equal(formatBytes(988 * 1024 * 1024), '988 MiB');
  });
  it('formats parameter counts', () => {
    assert.equal(formatCount(512), '512');
    assert.equal(formatCount(292800), '292.8K');
    assert.equal(formatCount(494032768), '494.0M');
    assert.equal(formatCount(1.5e9), '1.50B');
  });
});
