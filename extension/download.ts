// A resumable, checksummed HTTP(S) download for model files: data goes to `<dest>.part`, an interrupted download
// continues with a Range request, the SHA-256 is checked before the file takes its final name, and aborting keeps
// the part for next time. This is the only code in the extension that opens a network connection, and only when
// the user runs "Download Recommended Model". Pure Node: tested against a local HTTP server.
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

export interface DownloadProgress {
  /** Bytes of the file on disk so far, resumed bytes included. */
  received: number;
  /** The file's size when the server says it. */
  total?: number;
}

export interface DownloadRequest {
  url: string;
  /** Final path; the data is written to `${dest}.part` until it is complete and verified. */
  dest: string;
  /**
   * Expected SHA-256 (hex). When absent, a 64-hex-digit `X-Linked-Etag` from the server (Hugging Face sends the
   * file's SHA-256 there) is used; when neither exists the file is not verified and `verified` is false.
   */
  sha256?: string;
  signal?: AbortSignal;
  onProgress?(progress: DownloadProgress): void;
  /** Attempts after a dropped connection, each resuming where the last stopped. */
  retries?: number;
  maxRedirects?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  verified: boolean;
  /** Bytes that were already on disk when the first attempt started. */
  resumedFrom: number;
}

export class ChecksumError extends Error {
  constructor(expected: string, actual: string) {
    super(`checksum mismatch: expected sha256 ${expected}, got ${actual}; the partial file was deleted`);
    this.name = 'ChecksumError';
  }
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    url: string,
  ) {
    super(`HTTP ${status} for ${url}`);
    this.name = 'HttpStatusError';
  }
}

function abortError(): Error {
  const error = new Error('the download was cancelled; running it again resumes it');
  error.name = 'AbortError';
  return error;
}

interface Response {
  res: http.IncomingMessage;
  url: string;
  linkedEtag?: string;
}

function get(url: string, headers: Record<string, string>, signal: AbortSignal | undefined, redirects: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    const parsed = new URL(url);
    const client = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : undefined;
    if (!client) {
      reject(new Error(`unsupported URL scheme: ${url}`));
      return;
    }
    const req = client.get(parsed, { headers: { 'user-agent': 'specqd-vscode', ...headers }, ...(signal ? { signal } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      const etag = firstHeader(res.headers['x-linked-etag']);
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) {
          reject(new Error(`too many redirects from ${url}`));
          return;
        }
        const next = new URL(res.headers.location, parsed).toString();
        get(next, headers, signal, redirects - 1).then(
          (r) => resolve({ ...r, linkedEtag: r.linkedEtag ?? etag }),
          reject,
        );
        return;
      }
      resolve({ res, url, ...(etag !== undefined ? { linkedEtag: etag } : {}) });
    });
    req.on('error', (error) => reject(signal?.aborted ? abortError() : error));
  });
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sha256FromEtag(etag: string | undefined): string | undefined {
  const v = etag?.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  return v !== undefined && /^[0-9a-f]{64}$/.test(v) ? v : undefined;
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
}

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function isRetryable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError' || error instanceof ChecksumError) return false;
  if (error instanceof HttpStatusError) return error.status >= 500;
  return true;
}

export async function download(request: DownloadRequest): Promise<DownloadResult> {
  const part = `${request.dest}.part`;
  const resumedFrom = sizeOf(part);
  const retries = request.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    if (request.signal?.aborted) throw abortError();
    try {
      return { ...(await attemptOnce(request, part)), resumedFrom };
    } catch (error) {
      if (request.signal?.aborted) throw abortError();
      if (attempt >= retries || !isRetryable(error)) throw error;
    }
  }
}

async function attemptOnce(request: DownloadRequest, part: string): Promise<Omit<DownloadResult, 'resumedFrom'>> {
  let start = sizeOf(part);
  const hash = createHash('sha256');
  const { res, url, linkedEtag } = await get(
    request.url,
    start > 0 ? { range: `bytes=${start}-` } : {},
    request.signal,
    request.maxRedirects ?? 5,
  );
  const status = res.statusCode ?? 0;
  let total: number | undefined;
  if (status === 416 && start > 0) {
    // Nothing left to fetch if the part is already the whole file.
    res.resume();
    const whole = /\/(\d+)$/.exec(firstHeader(res.headers['content-range']) ?? '');
    if (whole && Number(whole[1]) === start) {
      await hashFile(part, hash);
      return finish(request, part, hash, start, linkedEtag);
    }
    fs.rmSync(part, { force: true });
    throw new Error('the partial download does not match the server file; it was deleted, try again');
  }
  if (status === 200) {
    start = 0; // the server sent the whole file (no range support, or a fresh start)
  } else if (status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(firstHeader(res.headers['content-range']) ?? '');
    if (!range || Number(range[1]) !== start) {
      res.resume();
      throw new Error(`the server answered a range request with an unexpected range (${res.headers['content-range'] ?? 'none'})`);
    }
    if (range[3] !== '*') total = Number(range[3]);
    await hashFile(part, hash);
  } else {
    res.resume();
    throw new HttpStatusError(status, url);
  }
  const length = Number(res.headers['content-length']);
  if (total === undefined && Number.isFinite(length) && res.headers['content-length'] !== undefined) total = start + length;

  let received = start;
  request.onProgress?.({ received, ...(total !== undefined ? { total } : {}) });
  // Each chunk is on disk before the next is read, so a dropped connection or a cancel keeps every byte counted.
  const out = await fs.promises.open(part, start > 0 ? 'a' : 'w');
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      await out.write(chunk);
      hash.update(chunk);
      received += chunk.length;
      request.onProgress?.({ received, ...(total !== undefined ? { total } : {}) });
      if (request.signal?.aborted) {
        res.destroy();
        throw abortError();
      }
    }
  } catch (error) {
    if (request.signal?.aborted) throw abortError();
    throw error;
  } finally {
    await out.close();
  }
  if (total !== undefined && received !== total) {
    throw new Error(`the connection closed after ${received} of ${total} bytes`);
  }
  return finish(request, part, hash, received, linkedEtag);
}

function finish(
  request: DownloadRequest,
  part: string,
  hash: Hash,
  bytes: number,
  linkedEtag: string | undefined,
): Omit<DownloadResult, 'resumedFrom'> {
  const actual = hash.digest('hex');
  const expected = request.sha256?.toLowerCase() ?? sha256FromEtag(linkedEtag);
  if (expected !== undefined && expected !== actual) {
    fs.rmSync(part, { force: true });
    throw new ChecksumError(expected, actual);
  }
  fs.renameSync(part, request.dest);
  return { path: request.dest, bytes, sha256: actual, verified: expected !== undefined };
}
