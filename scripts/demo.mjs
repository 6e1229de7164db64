// `npm run demo`: sets up if needed (npm ci, build), then runs `specqd demo` (extension/cli/demo.ts): held-out code
// completed by the trained fixture models under each speculation stack, with speed, acceptance and exactness.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const step = (command, args) => {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
if (!fs.existsSync(path.join(root, 'node_modules', 'cmake-js'))) step('npm', ['ci', '--no-audit', '--no-fund']);
// The demo's second part widens the fixture model with the native tool make-bench-model (built with the addon).
const built = [['dist', 'cli.js'], ['dist', 'specqd.node'], ['build', 'native', 'make-bench-model']];
if (built.some((parts) => !fs.existsSync(path.join(root, ...parts)))) {
  step(process.execPath, ['scripts/build.mjs']);
}

step(process.execPath, [path.join(root, 'bin', 'specqd'), 'demo', ...process.argv.slice(2)]);
