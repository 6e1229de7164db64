// The native test programs again under sanitizers: ASan+UBSan for the whole suite (memory errors, undefined
// behaviour, leaks), TSan for the code that runs threads (thread pool, kernels on the pool, model, speculation).
// Built with plain CMake from native/ (no Node needed), in build-asan/ and build-tsan/.
//   node scripts/test-sanitizers.mjs [address|thread]...
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const jobs = String(Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8)));
const wanted = process.argv.slice(2);
const runs = [
  { sanitizer: 'address', dir: 'build-asan', filter: [] },
  { sanitizer: 'thread', dir: 'build-tsan', filter: ['-R', 'thread-pool|kernels-matmul|model|speculative'] },
].filter((r) => wanted.length === 0 || wanted.includes(r.sanitizer));

function run(command, args, env = {}) {
  console.log(`> ${command} ${args.join(' ')}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status === 0;
}

let ok = true;
for (const r of runs) {
  const generator = spawnSync('ninja', ['--version']).status === 0 ? ['-G', 'Ninja'] : [];
  ok =
    run('cmake', ['-S', 'native', '-B', r.dir, ...generator, '-DCMAKE_BUILD_TYPE=RelWithDebInfo', `-DSPECQD_SANITIZE=${r.sanitizer}`]) &&
    run('cmake', ['--build', r.dir, '--parallel', jobs]) &&
    run('ctest', ['--test-dir', r.dir, '--output-on-failure', ...r.filter], {
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
      TSAN_OPTIONS: 'halt_on_error=1:second_deadlock_stack=1',
    }) &&
    ok;
}
process.exit(ok ? 0 : 1);
