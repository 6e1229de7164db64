// inspect() through the real addon on the shared stories260K model, and on damaged copies of it.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { inspect, nativeAddonLocation } from '../../extension/engine';
import { repoRoot, stories260K } from './shared-paths';

describe('inspect (native addon)', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-inspect-'));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('loads the addon from an explicit list of places and says which', () => {
    const where = nativeAddonLocation();
    assert.ok(where.path.endsWith('specqd.node'));
    assert.ok(where.tried.includes(where.path));
  });

  it('describes stories260K: llama, 5 blocks, embedding 64, vocabulary 512', async () => {
    const r = await inspect(stories260K);
    assert.equal(r.architecture, 'llama');
    assert.equal(r.supported, true);
    assert.equal(r.ggufVersion, 3);
    assert.equal(r.tensorCount, 48);
    assert.equal(r.hparams?.blockCount, 5);
    assert.equal(r.hparams?.embeddingLength, 64);
    assert.equal(r.hparams?.headCount, 8);
    assert.equal(r.hparams?.headCountKv, 4);
    assert.equal(r.hparams?.feedForwardLength, 172);
    assert.equal(r.tokenizer.model, 'llama');
    assert.equal(r.tokenizer.size, 512);
    assert.equal(r.tokenizer.bos, 1);
    assert.equal(r.tokenizer.eos, 2);
    assert.equal(r.tokenizer.fim.supported, false);
    assert.deepEqual(r.tensorTypes, [{ type: 'F32', count: 48, bytes: 292800 * 4 }]);
    assert.ok((r.memory?.estimatedBytes ?? 0) > r.tensorBytes);
  });

  it('rejects a truncated copy with a message naming the problem', async () => {
    const bytes = fs.readFileSync(stories260K);
    const truncated = path.join(tmp, 'truncated.gguf');
    fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(inspect(truncated), /outside the file|truncated/);
  });

  it('rejects a copy with a corrupted tensor offset, naming the tensor', async () => {
    const bytes = Buffer.from(fs.readFileSync(stories260K));
    // The first tensor's entry: name, n_dims (u32), ne (u64 each), type (u32), offset (u64).
    const name = 'token_embd.weight';
    const at = bytes.indexOf(Buffer.from(name));
    assert.ok(at > 0);
    const nDims = bytes.readUInt32LE(at + name.length);
    const offsetAt = at + name.length + 4 + 8 * nDims + 4;
    bytes.writeBigUInt64LE(1n << 40n, offsetAt);
    const corrupt = path.join(tmp, 'corrupt.gguf');
    fs.writeFileSync(corrupt, bytes);
    await assert.rejects(inspect(corrupt), /token_embd\.weight.*outside the file/);
  });

  it('rejects a missing file and a non-GGUF file', async () => {
    await assert.rejects(inspect(path.join(tmp, 'nope.gguf')), /cannot open/);
    const text = path.join(tmp, 'text.gguf');
    fs.writeFileSync(text, 'hello world, not a model');
    await assert.rejects(inspect(text), /not a GGUF file/);
  });

  it('bin/specqd inspect --json prints the same facts, and exits non-zero on a bad file', () => {
    const cli = path.join(repoRoot, 'bin', 'specqd');
    const ok = spawnSync(process.execPath, [cli, 'inspect', stories260K, '--json'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const json = JSON.parse(ok.stdout) as { architecture: string; hparams: { blockCount: number; embeddingLength: number }; tokenizer: { size: number } };
    assert.equal(json.architecture, 'llama');
    assert.equal(json.hparams.blockCount, 5);
    assert.equal(json.hparams.embeddingLength, 64);
    assert.equal(json.tokenizer.size, 512);
    const bad = spawnSync(process.execPath, [cli, 'inspect', path.join(tmp, 'nope.gguf')], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /cannot open/);
    const usage = spawnSync(process.execPath, [cli, 'inspect'], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
  });
});
