// The model download against a local HTTP server on 127.0.0.1 serving a fixture: full download, resume with a
// Range request after a dropped connection and after a cancel, checksum from the request or X-Linked-Etag,
// redirects, and errors. No other network.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { ChecksumError, download, HttpStatusError } from '../../extension/download';

interface ServerOptions {
  /** Close the connection after this many body bytes of the first full (non-range) response. */
  dropAfter?: number;
  /** Ignore Range headers. */
  noRanges?: boolean;
  /** Send X-Linked-Etag with this value on the redirect. */
  linkedEtag?: string;
  /** Bytes per chunk and a pause between chunks (to cancel mid-way). */
  chunk?: number;
  pauseMs?: number;
}

const servers: http.Server[] = [];

async function serve(body: Buffer, options: ServerOptions = {}) {
  const log: { url: string; range?: string }[] = [];
  let dropped = false;
  const server = http.createServer((req, res) => {
    log.push({ url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/model.gguf', ...(options.linkedEtag ? { 'x-linked-etag': `"${options.linkedEtag}"` } : {}) });
      res.end();
      return;
    }
    if (req.url !== '/model.gguf') {
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && !options.noRanges) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    } else {
      res.writeHead(200, { 'content-length': body.length });
    }
    const data = body.subarray(start);
    if (options.dropAfter !== undefined && !dropped && start === 0) {
      dropped = true;
      res.write(data.subarray(0, options.dropAfter), () => res.socket?.destroy());
      return;
    }
    const chunk = options.chunk ?? data.length;
    let at = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (at >= data.length) {
        res.end();
        return;
      }
      res.write(data.subarray(at, at + chunk));
      at += chunk;
      setTimeout(next, options.pauseMs ?? 0);
    };
    next();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, log, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('download', function () {
  this.timeout(20000);
  const body = Buffer.alloc(300_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
  const sha = createHash('sha256').update(body).digest('hex');
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-download-'));
  });
  afterEach(() => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('downloads the whole file, reports progress and checks the sha256', async () => {
    const s = await serve(body, { chunk: 65536 });
    const dest = path.join(tmp, 'm.gguf');
    const seen: number[] = [];
    const r = await download({ url: `${s.base}/model.gguf`, dest, sha256: sha, onProgress: (p) => { seen.push(p.received); assert.equal(p.total, body.length); } });
    await s.close();
    assert.deepEqual(fs.readFileSync(dest), body);
    assert.equal(r.sha256, sha);
    assert.equal(r.verified, true);
    assert.equal(r.resumedFrom, 0);
    assert.equal(seen[seen.length - 1], body.length);
    assert.ok(seen.length >= 3);
    assert.ok(!fs.existsSync(`${dest}.part`));
  });

  it('resumes with a Range request after the connection drops', async () => {
    const s = await serve(body, { dropAfter: 100_000 });
    const dest = path.join(tmp, 'm.gguf');
    const r = await download({ url: `${s.base}/model.gguf`, dest, sha256: sha });
    await s.close();
    assert.deepEqual(fs.readFileSync(dest), body);
    assert.equal(s.log.length, 2);
    assert.match(s.log[1]?.range ?? '', /^bytes=\d+-$/);
    assert.equal(r.verified, true);
  });

  it('keeps the part when cancelled and resumes from it next time', async () => {
    const s = await serve(body, { chunk: 10_000, pauseMs: 5 });
    const dest = path.join(tmp, 'm.gguf');
    const controller = new AbortController();
    await assert.rejects(
      download({ url: `${s.base}/model.gguf`, dest, signal: controller.signal, onProgress: (p) => { if (p.received >= 50_000) controller.abort(); } }),
      (e: Error) => e.name === 'AbortError',
    );
    const kept = fs.statSync(`${dest}.part`).size;
    assert.ok(kept >= 50_000 && kept < body.length, `kept ${kept}`);
    const r = await download({ url: `${s.base}/model.gguf`, dest, sha256: sha });
    await s.close();
    assert.equal(r.resumedFrom, kept);
    assert.equal(s.log[1]?.range, `bytes=${kept}-`);
    assert.deepEqual(fs.readFileSync(dest), body);
  });

  it('starts over when the server ignores the Range request', async () => {
    const s = await serve(body, { noRanges: true });
    const dest = path.join(tmp, 'm.gguf');
    fs.writeFileSync(`${dest}.part`, body.subarray(0, 1000));
    await download({ url: `${s.base}/model.gguf`, dest, sha256: sha });
    await s.close();
    assert.deepEqual(fs.readFileSync(dest), body);
  });

  it('finishes a part that is already complete (416)', async () => {
    const s = await serve(body);
    const dest = path.join(tmp, 'm.gguf');
    fs.writeFileSync(`${dest}.part`, body);
    const r = await download({ url: `${s.base}/model.gguf`, dest, sha256: sha });
    await s.close();
    assert.equal(r.verified, true);
    assert.deepEqual(fs.readFileSync(dest), body);
  });

  it('rejects a wrong checksum and deletes the part', async () => {
    const s = await serve(body);
    const dest = path.join(tmp, 'm.gguf');
    await assert.rejects(download({ url: `${s.base}/model.gguf`, dest, sha256: '0'.repeat(64) }), ChecksumError);
    await s.close();
    assert.ok(!fs.existsSync(dest));
    assert.ok(!fs.existsSync(`${dest}.part`));
  });

  it('follows a redirect and verifies against its X-Linked-Etag', async () => {
    const good = await serve(body, { linkedEtag: sha });
    const r = await download({ url: `${good.base}/redirect`, dest: path.join(tmp, 'a.gguf') });
    await good.close();
    assert.equal(r.verified, true);
    const bad = await serve(body, { linkedEtag: 'f'.repeat(64) });
    await assert.rejects(download({ url: `${bad.base}/redirect`, dest: path.join(tmp, 'b.gguf') }), ChecksumError);
    await bad.close();
  });

  it('reports an unverified file when no checksum is known', async () => {
    const s = await serve(body);
    const r = await download({ url: `${s.base}/model.gguf`, dest: path.join(tmp, 'm.gguf') });
    await s.close();
    assert.equal(r.verified, false);
    assert.equal(r.sha256, sha);
  });

  it('fails on an HTTP error without retrying', async () => {
    const s = await serve(body);
    await assert.rejects(download({ url: `${s.base}/missing`, dest: path.join(tmp, 'm.gguf') }), HttpStatusError);
    await s.close();
    assert.equal(s.log.length, 1);
  });
});
