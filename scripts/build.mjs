// One build: the native core, addon and native test programs (cmake-js, offline via node-api-headers), then the
// TypeScript bundles (esbuild), then the addon copied next to the bundles.
//   node scripts/build.mjs [--debug] [--production]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

function run(command, commandArgs) {
  console.log(`> ${command} ${commandArgs.join(' ')}`);
  const r = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build: '${command} ${commandArgs.join(' ')}' failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const jobs = String(Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8)));
const cmakeJs = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
run(process.execPath, [cmakeJs, 'compile', '--out', 'build', '--parallel', jobs,
  ...(args.includes('--debug') ? ['--debug'] : [])]);

run(process.execPath, ['esbuild.mjs', ...(args.includes('--production') ? ['--production'] : [])]);

const built = path.join(root, 'build', args.includes('--debug') ? 'Debug' : 'Release', 'specqd.node');
if (!fs.existsSync(built)) {
  console.error(`build: the addon was not produced at ${built}`);
  process.exit(1);
}
fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
// Copy then rename: overwriting the .node in place would crash any process that has it loaded (it is mapped).
const staged = path.join(root, 'dist', `specqd.node.tmp-${process.pid}`);
fs.copyFileSync(built, staged);
fs.renameSync(staged, path.join(root, 'dist', 'specqd.node'));
console.log('build: done (dist/extension.js, dist/cli.js, dist/specqd.node, native tests in build/)');
