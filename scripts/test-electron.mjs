// The same extension-host suite (test/host/) under desktop VS Code through @vscode/test-electron, for machines
// that can download VS Code from update.code.visualstudio.com (CI here cannot: it uses scripts/test-host.mjs with
// code-server instead). On a Linux machine without a display, run it under xvfb-run.
// Needs `npm run build` and `tsc -p .` first.
//   node scripts/test-electron.mjs            env: VSCODE_VERSION (default 1.100.3, what code-server 4.100.3 runs)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { runTests } from '@vscode/test-electron';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sharedDir = process.env.SPECQD_SHARED_DIR ?? path.resolve(root, '..', 'shared');
const tinyCoder = path.join(root, 'test', 'fixtures', 'models', 'tiny-coder.gguf');
const stories = path.join(sharedDir, 'models', 'stories260K.gguf');
const model = fs.existsSync(tinyCoder) ? tinyCoder : stories;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-electron-'));
const userDir = path.join(work, 'user-data');
const workspace = path.join(work, 'workspace');
fs.mkdirSync(path.join(userDir, 'User'), { recursive: true });
fs.mkdirSync(workspace);
fs.writeFileSync(
  path.join(userDir, 'User', 'settings.json'),
  JSON.stringify({
    'workbench.startupEditor': 'none',
    'telemetry.telemetryLevel': 'off',
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.wordBasedSuggestions': 'off',
    'specqd.targetModel': model,
    'specqd.debounceMs': 10,
    'specqd.maxTokens': 24,
  }),
);
const resultsFile = path.join(work, 'results.json');

let code = 1;
try {
  await runTests({
    version: process.env.VSCODE_VERSION ?? '1.100.3',
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, 'out', 'test', 'host', 'index.js'),
    launchArgs: [workspace, '--user-data-dir', userDir, '--disable-extensions', '--disable-workspace-trust'],
    extensionTestsEnv: {
      SPECQD_TEST_MODEL: model,
      SPECQD_TEST_ALT_MODEL: model === stories ? '' : stories,
      SPECQD_HOST_RESULTS: resultsFile,
    },
  });
  code = 0;
} catch (error) {
  console.error(`test-electron: ${error instanceof Error ? error.message : String(error)}`);
}
let passed = 0;
let failed = 0;
try {
  for (const t of JSON.parse(fs.readFileSync(resultsFile, 'utf8')).results) {
    console.log(`  ${t.ok ? 'pass' : 'FAIL'}  ${t.title}`);
    if (!t.ok) console.log(`        ${String(t.err).split('\n').slice(0, 8).join('\n        ')}`);
    if (t.ok) passed++;
    else failed++;
  }
} catch {
  failed = Math.max(failed, 1);
}
fs.rmSync(work, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(code === 0 && failed === 0 ? 0 : 1);
