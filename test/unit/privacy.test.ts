// Privacy: the extension opens no network connection except the explicit model download (extension/download.ts).
// A grep over the extension's sources, so a new import of a network module elsewhere fails the tests.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { repoRoot } from './shared-paths';

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const network = /from ['"](node:)?(http|https|http2|net|tls|dgram|dns|undici)['"]|require\(['"](node:)?(http|https|http2|net|tls|dgram|dns)['"]\)|\bfetch\(|\bWebSocket\b|XMLHttpRequest/;

describe('privacy', () => {
  it('only extension/download.ts can open a network connection', () => {
    const offenders = sources(path.join(repoRoot, 'extension'))
      .map((file) => path.relative(repoRoot, file).split(path.sep).join('/'))
      .filter((rel) => rel !== 'extension/download.ts' && !rel.startsWith('extension/cli/'))
      .filter((rel) => network.test(fs.readFileSync(path.join(repoRoot, rel), 'utf8')));
    assert.deepEqual(offenders, []);
    assert.ok(network.test(fs.readFileSync(path.join(repoRoot, 'extension', 'download.ts'), 'utf8')), 'the check sees download.ts');
  });
});
