// quantize() and `specqd quantize`: the MXFP4 file it writes, progress, cancellation through an AbortSignal, and
// atomicity: a failed, cancelled or SIGKILLed run leaves no partial output and never touches the input; the
// temporary file a SIGKILL leaves behind is removed by the next run writing the same output.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Engine, inspect, quantize } from '../../extension/engine';
import { repoRoot, stories260K } from './shared-paths';

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function tempFilesOf(dst: string): string[] {
  const base = path.basename(dst);
  return fs.readdirSync(path.dirname(dst)).filter((f) => f.startsWith(`${base}.tmp-`));
}

/**
 * A GGUF big enough that quantizing takes a while: `layers` F32 projections of 1024 x 1024 (4 MiB each), data left
 * as a hole in a sparse file (zeros). Not a runnable model, only something the converter streams through.
 */
function writeBigGguf(file: string, layers: number): void {
  const parts: Buffer[] = [];
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const u64 = (v: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  };
  const str = (s: string): Buffer => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
  parts.push(Buffer.from('GGUF'), u32(3), u64(layers), u64(1));
  parts.push(str('general.architecture'), u32(8), str('llama'));
  const tensorBytes = 1024 * 1024 * 4;
  for (let i = 0; i < layers; i++) {
    parts.push(str(`blk.${i}.attn_q.weight`), u32(2), u64(1024), u64(1024), u32(0), u64(i * tensorBytes));
  }
  const header = Buffer.concat(parts);
  const dataStart = Math.ceil(header.length / 32) * 32;
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, header);
    fs.ftruncateSync(fd, dataStart + layers * tensorBytes);
  } finally {
    fs.closeSync(fd);
  }
}

describe('quantize (MXFP4)', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-quantize-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes an MXFP4 GGUF with progress, and the engine runs it', async () => {
    const dst = path.join(dir, 'stories-mxfp4.gguf');
    const before = sha256(stories260K);
    const seen: number[] = [];
    const report = await quantize(stories260K, dst, { onProgress: (f) => seen.push(f) });
    assert.equal(sha256(stories260K), before);
    // 5 blocks x 7 projections + the head, minus the 5 ffn_down (row length 172 is not whole blocks).
    assert.equal(report.converted, 31);
    assert.equal(report.kept.length, 5);
    assert.ok(report.kept.every((k) => /ffn_down.*not a multiple of 32/.test(k)));
    assert.ok(seen.length > 0 && seen[seen.length - 1] === 1);
    assert.ok(seen.every((f, i) => i === 0 || f >= seen[i - 1]));
    assert.deepEqual(tempFilesOf(dst), []);

    const info = await inspect(dst);
    const mxfp4 = info.tensorTypes.find((t) => t.type === 'MXFP4');
    assert.equal(mxfp4?.count, 31);
    const engine = await Engine.load({ target: dst, threads: 2, contextLength: 256 });
    try {
      const r = await engine.complete({ prompt: 'Once upon a time', maxTokens: 16 });
      assert.equal(r.tokens.length, 16);
      assert.match(r.text, /^[\w\s,.'"!?]+$/);
    } finally {
      engine.close();
    }
  });

  it('keeps the head with keepHead', async () => {
    const dst = path.join(dir, 'stories-mxfp4-head.gguf');
    const report = await quantize(stories260K, dst, { keepHead: true });
    assert.equal(report.converted, 30);
  });

  it('runs the "mxfp4" speculation level (auto and from a file) with output equal to the target alone', async () => {
    const file = path.join(dir, 'stories-level.gguf');
    await quantize(stories260K, file);
    const plain = await Engine.load({ target: stories260K, threads: 2, contextLength: 256 });
    const expected = await plain.complete({ prompt: 'Once upon a time', maxTokens: 48 });
    plain.close();
    for (const mxfp4 of ['auto', file]) {
      const engine = await Engine.load({
        target: stories260K,
        threads: 2,
        contextLength: 256,
        levels: ['target', 'mxfp4', 'ngram'],
        mxfp4,
      });
      try {
        assert.deepEqual(engine.info()?.levels, ['target', 'mxfp4', 'ngram']);
        const r = await engine.complete({ prompt: 'Once upon a time', maxTokens: 48 });
        assert.deepEqual(r.tokens, expected.tokens);
        const level = r.stats.levels.find((l) => l.name === 'mxfp4');
        assert.ok(level && level.proposed > 0, `mxfp4 level proposed nothing (${mxfp4})`);
      } finally {
        engine.close();
      }
    }
    await assert.rejects(
      Engine.load({ target: stories260K, levels: ['target', 'mxfp4'], mxfp4: 'off' }),
      /mxfp4/,
    );
  });

  it('a failed run leaves no output', async () => {
    const dst = path.join(dir, 'never.gguf');
    await assert.rejects(quantize(path.join(dir, 'missing.gguf'), dst));
    assert.equal(fs.existsSync(dst), false);
    assert.deepEqual(tempFilesOf(dst), []);
  });

  it('cancels through an AbortSignal, leaving no output and an existing output untouched', async () => {
    const src = path.join(dir, 'big.gguf');
    writeBigGguf(src, 48);
    const dst = path.join(dir, 'big-mxfp4.gguf');
    fs.writeFileSync(dst, 'previous');
    const controller = new AbortController();
    await assert.rejects(
      quantize(src, dst, { signal: controller.signal, onProgress: () => controller.abort() }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.equal(fs.readFileSync(dst, 'utf8'), 'previous');
    assert.deepEqual(tempFilesOf(dst), []);
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(quantize(src, dst, { signal: aborted.signal }), (e: Error) => e.name === 'AbortError');
  });

  it('survives kill -9 of `specqd quantize`: no output, and the next run removes the stale temporary file', async () => {
    const src = path.join(dir, 'big2.gguf');
    writeBigGguf(src, 64);
    const dst = path.join(dir, 'killed.gguf');
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'specqd'), 'quantize', src, dst], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    // Kill as soon as the first progress line shows the run is inside the conversion.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => resolve());
      child.on('exit', () => reject(new Error('specqd quantize finished before it could be killed')));
    });
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.equal(fs.existsSync(dst), false);
    assert.equal(tempFilesOf(dst).length, 1, 'a SIGKILL cannot clean up: one temporary file is expected');

    const report = await quantize(src, dst);
    assert.equal(report.converted, 64);
    assert.deepEqual(tempFilesOf(dst), []);
    assert.ok(fs.statSync(dst).size > 0);
  });
});
