// Privacy, checked on the running code: SpecQD opens no network connection except the explicit model download
// (extension/download.ts, which nothing below calls). Each step runs under `strace -f -e trace=socket,connect`, which
// logs every socket any of its processes or threads creates and every connect() it makes, and the test fails if one
// of them is an internet socket (AF_INET / AF_INET6). Unix-domain sockets (AF_UNIX: local plumbing between processes
// on this machine) are allowed and only counted. The steps cover the built addon and the extension's logic:
//   - `specqd inspect`, `specqd complete` with every speculation level (target, MXFP4 copy, draft model, n-gram),
//     `specqd quantize` (the CLI over the same facade the extension uses);
//   - one completion through EngineManager + CompletionService, the extension's own load and completion path.
// A control step first makes a connection to a local TCP listener and requires the watcher to see it, so the test
// cannot pass by seeing nothing. Needs strace (.ci/run installs it), `npm run build` and `npx tsc -p .`.
//   node test/privacy/no-network.mjs
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const models = path.join(root, 'test', 'fixtures', 'models');
const target = path.join(models, 'tiny-coder.gguf');
const draft = path.join(models, 'tiny-coder-draft.gguf');
const specqd = path.join(root, 'bin', 'specqd');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-privacy-'));

if (spawnSync('strace', ['-V']).status !== 0) {
  console.error('privacy: strace is not installed (apt-get install strace; .ci/run does)');
  process.exit(1);
}

// Runs the command under strace; returns its internet socket calls and the number of local (AF_UNIX) ones.
function watch(label, command, args) {
  const log = path.join(scratch, `${label.replace(/\W+/g, '-')}.strace`);
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=socket,connect', '-o', log, command, ...args],
    { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    throw new Error(`${label}: '${path.basename(command)} ${args.join(' ')}' failed (exit ${r.status ?? r.signal})\n` +
      `${r.stdout}${r.stderr}`);
  }
  const calls = fs.readFileSync(log, 'utf8').split('\n').filter((line) => line.trim() !== '');
  return {
    internet: calls.filter((line) => /socket\(AF_INET6?\b|sa_family=AF_INET6?\b/.test(line)),
    local: calls.filter((line) => /AF_UNIX|AF_LOCAL/.test(line)).length,
  };
}

// The control connects from a worker thread, as the addon's work runs off the main thread: strace -f must see it.
const control = `
  const net = require('node:net');
  const { Worker } = require('node:worker_threads');
  const server = net.createServer((c) => c.end()).listen(0, '127.0.0.1', () => {
    const client = "require('node:net').connect(" + server.address().port + ", '127.0.0.1', function () { this.end(); })";
    new Worker(client, { eval: true }).on('exit', () => server.close());
  });`;
const steps = [
  ['inspect', specqd, ['inspect', target]],
  ['complete (target, mxfp4, draft, ngram)', specqd, ['complete', '--model', target, '--draft', draft,
    '--levels', 'target,mxfp4,draft,ngram', '--prompt', 'def add(a, b):\n    return', '--max-tokens', '24',
    '--threads', '2']],
  ['quantize', specqd, ['quantize', draft, path.join(scratch, 'draft-mxfp4.gguf'), '--quiet']],
  ['extension completion path', process.execPath, [path.join(root, 'test', 'privacy', 'complete-through-service.mjs'),
    target]],
];

let failed = 0;
try {
  // The control: a real TCP connection must show up, or the watcher is blind and nothing below would mean anything.
  const seen = watch('control', process.execPath, ['-e', control]);
  const connects = seen.internet.filter((line) => line.includes('connect('));
  if (connects.length === 0) {
    console.error('FAIL  control: strace did not see the TCP connection to the local listener; the check is blind');
    failed++;
  } else {
    console.log(`ok    control: the watcher sees a TCP connection from a worker thread (${connects[0].trim()})`);
  }
  for (const [label, command, args] of steps) {
    const seenHere = watch(label, command, args);
    if (seenHere.internet.length > 0) {
      console.error(`FAIL  ${label}: opened internet sockets:\n  ${seenHere.internet.join('\n  ')}`);
      failed++;
    } else {
      console.log(`ok    ${label}: no AF_INET/AF_INET6 socket or connect (${seenHere.local} local AF_UNIX calls)`);
    }
  }
} catch (e) {
  console.error(`FAIL  ${e instanceof Error ? e.message : String(e)}`);
  failed++;
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
console.log(failed === 0 ? 'privacy: no network use seen' : `privacy: ${failed} step(s) failed`);
process.exit(failed === 0 ? 0 : 1);
