// The extension-host suite in a real VS Code: a throw-away code-server (npm devDependency, VS Code 1.100.3) with
// Debian's headless Chromium as its client, driven by playwright-core (shared with scripts/test-install.mjs in
// scripts/code-server.mjs). Recipe: ../shared/docs/vscode-host-testing.md.
//   1. extension-host tests: test/host/*.test.ts run inside code-server's Node extension host
//      (extensionDevelopmentPath + extensionTestsPath), with the real engine on a fixture model;
//   2. UI smoke test: the status bar item, a palette command, ghost text typed into an editor and accepted with
//      Tab, with screenshots in out/screenshots/.
// Needs `npm run build` and `tsc -p .` first (npm test does both). Exits 0 when everything passed.
//   node scripts/test-host.mjs [--no-ui]
//   env: CHROMIUM (default /usr/bin/chromium), SPECQD_HOST_MODEL (a GGUF instead of the fixture), VERBOSE=1
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  chromiumPath, codeServerEntry, failRun, launchBrowser, makeWorkDir, requireFiles, root, runExtensionHostTests,
  runUiSmoke, startCodeServer, stories, testsEntry, tinyCoder,
} from './code-server.mjs';

const verbose = process.env.VERBOSE === '1';
// The FIM code fixture when it exists, else the story model (no FIM: the extension completes the prefix alone).
const model = process.env.SPECQD_HOST_MODEL ?? (fs.existsSync(tinyCoder) ? tinyCoder : stories);
const altModel = model === stories ? '' : stories;

requireFiles('test-host', [
  [codeServerEntry, 'npm ci (code-server is a devDependency; see .ci/run for the apt packages it needs)'],
  [chromiumPath, 'apt-get install chromium'],
  [path.join(root, 'dist', 'extension.js'), 'npm run build'],
  [testsEntry, 'npx tsc -p .'],
  [model, 'the fixture model is missing'],
]);

const dirs = makeWorkDir('specqd-host-', { 'specqd.targetModel': model, 'specqd.debounceMs': 10, 'specqd.maxTokens': 24 });
const t0 = Date.now();
let server;
try {
  server = await startCodeServer(dirs, {
    SPECQD_TEST_MODEL: model,
    SPECQD_TEST_ALT_MODEL: altModel,
    SPECQD_HOST_RESULTS: dirs.resultsFile,
  });
} catch (error) {
  failRun('test-host', error.message);
}
const browser = await launchBrowser();

let passed = 0;
let failed = 0;

// --- 1. extension-host tests --------------------------------------------------------------------------------
{
  const r = await runExtensionHostTests(
    browser,
    server,
    dirs,
    [['extensionDevelopmentPath', server.remote(root)], ['extensionTestsPath', server.remote(testsEntry)]],
    { title: 'extension-host tests', verbose },
  );
  passed += r.passed;
  failed += r.failed;
}

// --- 2. UI smoke test with screenshots ------------------------------------------------------------------------
if (!process.argv.includes('--no-ui')) {
  const r = await runUiSmoke(browser, server, [['extensionDevelopmentPath', server.remote(root)]], {
    title: 'UI smoke test',
    shotsDir: path.join(root, 'out', 'screenshots'),
    addonUnder: path.join(root, 'dist'),
    verbose,
  });
  passed += r.passed;
  failed += r.failed;
}

await browser.close();
server.stop();
if (failed === 0) fs.rmSync(dirs.work, { recursive: true, force: true });
else console.log(`\nkept ${dirs.work} (server.log, results.json)`);
console.log(`\ntest-host: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
