// `npm run demo`: sets up if needed (npm ci, build), then shows the engine on the shared model.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (command, args) => {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

if (!fs.existsSync(path.join(root, 'node_modules', 'cmake-js'))) run('npm', ['ci', '--no-audit', '--no-fund']);
if (!fs.existsSync(path.join(root, 'dist', 'specqd.node'))) run(process.execPath, ['scripts/build.mjs']);

const shared = process.env.SPECQD_SHARED_DIR ?? path.resolve(root, '..', 'shared');
run(process.execPath, ['bin/specqd', 'inspect', path.join(shared, 'models', 'stories260K.gguf')]);
