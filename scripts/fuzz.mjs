// Fuzzing with libFuzzer, bounded: builds native/fuzz/ with clang (-DSPECQD_FUZZ=ON: coverage-guided, ASan+UBSan)
// in build-fuzz/, then runs each fuzz target for a fixed time. Each target's corpus is a scratch folder
// (build-fuzz/corpus/<target>/, kept between runs so long campaigns build on each other) fed from the committed seeds
// and regressions (native/fuzz/) and, for the tokenizer, the held-out code files. A crash, leak, timeout or broken
// invariant leaves its input in build-fuzz/crashes/<target>/; the script prints it with the command that replays it
// and exits 1. Without clang it fails with the command that installs it (CI installs it; .ci/run).
//   node scripts/fuzz.mjs [--seconds N] [--jobs N] [--target gguf|tokenizer]...
//     --seconds N  per target (default 30, so the default run takes about a minute)
//     --jobs N     parallel fuzzing processes per target (libFuzzer -fork=N; default 1)
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = path.join(root, 'build-fuzz');
const fuzzDir = path.join(root, 'native', 'fuzz');

function usage(message) {
  console.error(`fuzz: ${message}\nusage: node scripts/fuzz.mjs [--seconds N] [--jobs N] [--target gguf|tokenizer]...`);
  process.exit(2);
}

const targets = {
  gguf: { extra: [], options: ['-max_len=65536'] },
  // Inputs cut at 2 KB: tokenizer bugs show on short texts, and throughput is five times that on 10 KB files.
  tokenizer: { extra: [path.join(root, 'test', 'fixtures', 'heldout', 'files')], options: ['-max_len=2048'] },
};
let seconds = 30;
let jobs = 1;
const chosen = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const value = () => argv[++i] ?? usage(`${argv[i - 1]} needs a value`);
  if (argv[i] === '--seconds') seconds = Number(value());
  else if (argv[i] === '--jobs') jobs = Number(value());
  else if (argv[i] === '--target') chosen.push(value());
  else usage(`unknown argument ${argv[i]}`);
}
if (!Number.isInteger(seconds) || seconds < 1) usage('--seconds must be a positive integer');
if (!Number.isInteger(jobs) || jobs < 1) usage('--jobs must be a positive integer');
for (const t of chosen) if (!(t in targets)) usage(`unknown target ${t} (known: ${Object.keys(targets).join(', ')})`);
const names = chosen.length > 0 ? chosen : Object.keys(targets);

function run(command, args) {
  console.log(`> ${command} ${args.join(' ')}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`fuzz: '${command}' failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

if (spawnSync('clang++', ['--version']).status !== 0) {
  console.error('fuzz: clang++ is not installed, and libFuzzer comes with it. Install it with\n' +
    '  apt-get install clang libclang-rt-14-dev\n(.ci/run does; the fuzz targets also run once over their corpus ' +
    'with any compiler as the CTest tests fuzz-*-corpus)');
  process.exit(1);
}
const generator = spawnSync('ninja', ['--version']).status === 0 ? ['-G', 'Ninja'] : [];
const buildJobs = String(Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8)));
run('cmake', ['-S', 'native', '-B', buildDir, ...generator, '-DCMAKE_CXX_COMPILER=clang++',
  '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DSPECQD_FUZZ=ON']);
run('cmake', ['--build', buildDir, '--parallel', buildJobs, '--target', ...names.map((n) => `fuzz-${n}`)]);

// Runs one target, echoing libFuzzer's log, and resolves with its exit status and the last execution count it
// reported ("#12345 ..." status lines, or the final stats).
function fuzz(name) {
  const corpus = path.join(buildDir, 'corpus', name);
  const crashes = path.join(buildDir, 'crashes', name);
  fs.mkdirSync(corpus, { recursive: true });
  fs.rmSync(crashes, { recursive: true, force: true });  // findings of earlier runs were reported by those runs
  fs.mkdirSync(crashes, { recursive: true });
  const inputs = [path.join(fuzzDir, 'seeds', name), path.join(fuzzDir, 'regressions', name), ...targets[name].extra]
    .filter((dir) => fs.existsSync(dir));
  const args = [
    `-max_total_time=${seconds}`, '-timeout=30', '-print_final_stats=1', `-artifact_prefix=${crashes}${path.sep}`,
    ...(jobs > 1 ? [`-fork=${jobs}`] : []), ...targets[name].options,
    corpus, ...inputs,  // the first folder receives new inputs; the others only seed it
  ];
  const binary = path.join(buildDir, `fuzz-${name}`);
  console.log(`\n> ${path.relative(root, binary)} ${args.map((a) => path.relative(root, a) || a).join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(binary, args, { cwd: buildDir, stdio: ['ignore', 'inherit', 'pipe'] });
    let executions = 0;
    let pending = '';
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^#(\d+)\s/.exec(line) ?? /^stat::number_of_executed_units:\s*(\d+)/.exec(line);
        if (m) executions = Math.max(executions, Number(m[1]));
      }
    });
    child.on('close', (status, signal) => {
      const found = fs.readdirSync(crashes).map((f) => path.join(crashes, f));
      resolve({ name, ok: status === 0 && found.length === 0, status: status ?? signal, executions, found });
    });
  });
}

const results = [];
for (const name of names) results.push(await fuzz(name));

console.log('\nfuzzing summary');
for (const r of results) {
  console.log(`  ${r.ok ? 'pass' : 'FAIL'}  fuzz-${r.name}: ${r.executions} executions in ${seconds} s` +
    `${jobs > 1 ? ` (${jobs} processes)` : ''}, corpus ${fs.readdirSync(path.join(buildDir, 'corpus', r.name)).length} inputs` +
    `${r.ok ? '' : `, exit ${r.status}`}`);
  for (const file of r.found) {
    const bytes = fs.readFileSync(file);
    console.log(`    ${path.relative(root, file)} (${bytes.length} bytes): ${bytes.subarray(0, 48).toString('hex')}` +
      `${bytes.length > 48 ? '...' : ''}`);
    console.log(`      replay: ${path.relative(root, path.join(buildDir, `fuzz-${r.name}`))} ${path.relative(root, file)}`);
  }
}
process.exit(results.every((r) => r.ok) ? 0 : 1);
