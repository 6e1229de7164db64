// The extension-host suite in a real VS Code: a throw-away code-server (npm devDependency, VS Code 1.100.3) with
// Debian's headless Chromium as its client, driven by playwright-core. Recipe: ../shared/docs/vscode-host-testing.md.
//   1. extension-host tests: test/host/*.test.ts run inside code-server's Node extension host
//      (extensionDevelopmentPath + extensionTestsPath), with the real engine on a fixture model;
//   2. UI smoke test: the status bar item, a palette command, ghost text typed into an editor and accepted with
//      Tab, with screenshots in out/screenshots/.
// Needs `npm run build` and `tsc -p .` first (npm test does both). Exits 0 when everything passed.
//   node scripts/test-host.mjs [--no-ui]
//   env: CHROMIUM (default /usr/bin/chromium), SPECQD_HOST_MODEL (a GGUF instead of the fixture), VERBOSE=1
/* global fetch, document -- document: inside page.evaluate/waitForFunction, which run in the browser */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.env.VERBOSE === '1';
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const codeServer = path.join(root, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const testsEntry = path.join(root, 'out', 'test', 'host', 'index.js');
const shotsDir = path.join(root, 'out', 'screenshots');
const sharedDir = process.env.SPECQD_SHARED_DIR ?? path.resolve(root, '..', 'shared');
const tinyCoder = path.join(root, 'test', 'fixtures', 'models', 'tiny-coder.gguf');
const stories = path.join(sharedDir, 'models', 'stories260K.gguf');
// The FIM code fixture when it exists, else the story model (no FIM: the extension completes the prefix alone).
const model = process.env.SPECQD_HOST_MODEL ?? (fs.existsSync(tinyCoder) ? tinyCoder : stories);
const altModel = model === stories ? '' : stories;

function fail(message) {
  console.error(`test-host: ${message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

for (const [file, fix] of [
  [codeServer, 'npm ci (code-server is a devDependency; see .ci/run for the apt packages it needs)'],
  [chromiumPath, 'apt-get install chromium'],
  [path.join(root, 'dist', 'extension.js'), 'npm run build'],
  [testsEntry, 'npx tsc -p .'],
  [model, 'the fixture model is missing'],
]) {
  if (!fs.existsSync(file)) fail(`${file} not found: ${fix}`);
}

const { chromium } = await import('playwright-core');

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

// A fresh user-data-dir, extensions dir and workspace per run: code-server keeps extension hosts and editors alive
// across page loads, so nothing is reused.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'specqd-host-'));
const userDir = path.join(work, 'user-data');
const workspace = path.join(work, 'workspace');
fs.mkdirSync(path.join(userDir, 'User'), { recursive: true });
fs.mkdirSync(path.join(work, 'extensions'));
fs.mkdirSync(workspace);
fs.writeFileSync(
  path.join(userDir, 'User', 'settings.json'),
  JSON.stringify(
    {
      'workbench.startupEditor': 'none',
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'workbench.enableExperiments': false,
      'workbench.tips.enabled': false,
      'git.enabled': false,
      'security.workspace.trust.enabled': false,
      'editor.quickSuggestions': { other: false, comments: false, strings: false },
      'editor.suggestOnTriggerCharacters': false,
      'editor.wordBasedSuggestions': 'off',
      'editor.inlineSuggest.enabled': true,
      'specqd.targetModel': model,
      'specqd.debounceMs': 10,
      'specqd.maxTokens': 24,
    },
    null,
    2,
  ),
);
fs.writeFileSync(path.join(workspace, 'sample.py'), 'def add(a, b):\n    return a + b\n\n');
const resultsFile = path.join(work, 'results.json');

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
fs.writeFileSync(path.join(work, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
const serverLog = fs.openSync(path.join(work, 'server.log'), 'w');
const server = spawn(
  process.execPath,
  [codeServer, '--config', path.join(work, 'config.yaml'), '--user-data-dir', userDir,
    '--extensions-dir', path.join(work, 'extensions'), '--disable-telemetry', '--disable-update-check',
    '--disable-workspace-trust', '--disable-getting-started-override'],
  {
    detached: true, // its own process group, killed as a whole below (it leaves file watchers otherwise)
    stdio: ['ignore', serverLog, serverLog],
    env: {
      ...process.env,
      XDG_DATA_HOME: path.join(work, 'xdg-data'),
      XDG_CONFIG_HOME: path.join(work, 'xdg-config'),
      SPECQD_TEST_MODEL: model,
      SPECQD_TEST_ALT_MODEL: altModel,
      SPECQD_HOST_RESULTS: resultsFile,
    },
  },
);
let stopped = false;
function stopServer() {
  if (stopped) return;
  stopped = true;
  try {
    process.kill(-server.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  setTimeout(() => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, 1000).unref();
}
process.on('exit', stopServer);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const t0 = Date.now();
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/healthz`)).ok) break;
  } catch {
    /* not up yet */
  }
  if (i > 300) fail(`code-server did not start; see ${path.join(work, 'server.log')}`);
  await new Promise((r) => setTimeout(r, 100));
}
console.log(`code-server ${base} up after ${((Date.now() - t0) / 1000).toFixed(1)} s (work dir ${work})`);

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

// code-server's remote authority is the host:port the browser used.
const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
const workbenchUrl = (payload) =>
  `${base}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;

let passed = 0;
let failed = 0;

// --- 1. extension-host tests --------------------------------------------------------------------------------
{
  const started = Date.now();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  if (verbose) page.on('console', (m) => console.log('  |', m.text().slice(0, 400)));
  // The workbench calls window.codeAutomationExit(code) when the extension host exits after the test run.
  const exited = new Promise((resolve) => void page.exposeFunction('codeAutomationExit', (code) => resolve(code)));
  await page.goto(
    workbenchUrl([['extensionDevelopmentPath', remote(root)], ['extensionTestsPath', remote(testsEntry)]]),
  );
  const limit = Number(process.env.SPECQD_HOST_TIMEOUT_MS ?? 240000);
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), limit))]);
  await context.close();
  console.log('\nextension-host tests');
  try {
    const r = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
    for (const t of r.results) {
      console.log(`  ${t.ok ? 'pass' : 'FAIL'}  ${t.title}${t.ms !== undefined ? ` (${t.ms} ms)` : ''}`);
      if (!t.ok) console.log(`        ${String(t.err).split('\n').slice(0, 8).join('\n        ')}`);
      if (t.ok) passed++;
      else failed++;
    }
  } catch (error) {
    console.log(`  FAIL  no results (${error.message}); extension host exit ${code}`);
    failed++;
  }
  if (code !== 0 && failed === 0) failed++;
  console.log(`  extension host exit ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// --- 2. UI smoke test with screenshots ------------------------------------------------------------------------
async function uiSmoke() {
  fs.mkdirSync(shotsDir, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  if (verbose) page.on('console', (m) => console.log('  |', m.text().slice(0, 400)));
  const shot = (name) => page.screenshot({ path: path.join(shotsDir, name) });
  const steps = [];
  const step = async (name, fn) => {
    const started = Date.now();
    try {
      await fn();
      steps.push({ name, ok: true, ms: Date.now() - started });
    } catch (error) {
      steps.push({ name, ok: false, err: String(error?.message ?? error).split('\n').slice(0, 6).join('\n        ') });
      await shot(`failed-${steps.length}.png`).catch(() => undefined);
      throw error;
    }
  };
  try {
    await page.goto(workbenchUrl([['extensionDevelopmentPath', remote(root)]]));
    const status = page.locator('.statusbar-item', { hasText: 'SpecQD' });
    await step('status bar shows the engine ready', async () => {
      await status.first().waitFor({ state: 'visible', timeout: 60000 });
      await page.waitForFunction(
        () => [...document.querySelectorAll('.statusbar-item')].some((e) => /SpecQD ready|tok\/s/.test(e.textContent ?? '')),
        undefined,
        { timeout: 60000 },
      );
      await shot('01-status-bar.png');
    });
    await step('palette runs "SpecQD: Show Engine Stats"', async () => {
      await page.locator('.monaco-workbench').click({ position: { x: 640, y: 400 } });
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 15000 });
      await input.fill('>SpecQD: Show Engine Stats');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Show Engine Stats' }).first().waitFor({ timeout: 15000 });
      await page.keyboard.press('Enter');
      await page.locator('.tab', { hasText: 'SpecQD Engine Stats' }).first().waitFor({ state: 'visible', timeout: 15000 });
      await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 15000 });
      await shot('02-engine-stats.png');
    });
    let ghost = '';
    await step('ghost text from the engine appears while typing', async () => {
      const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'sample.py' }).first();
      await row.waitFor({ state: 'visible', timeout: 20000 });
      await row.click();
      await page.locator('.tab', { hasText: 'sample.py' }).first().waitFor({ state: 'visible', timeout: 15000 });
      const editor = page.locator('.editor-instance .view-lines').first();
      await editor.click();
      await page.keyboard.press('Control+End');
      await page.keyboard.type('def mul(a, b):', { delay: 20 });
      await page.keyboard.press('Enter');
      const decoration = page.locator('.ghost-text-decoration, .ghost-text').first();
      for (let i = 0; i < 10; i++) {
        if (await decoration.isVisible()) break;
        await page.keyboard.press('Alt+Backslash'); // editor.action.inlineSuggest.trigger
        await page.waitForTimeout(500);
      }
      await decoration.waitFor({ state: 'visible', timeout: 15000 });
      // The ghost text is split over several decoration spans (and `.ghost-text` lines when multi-line).
      ghost = await page.evaluate(() => {
        const text = (selector) => [...document.querySelectorAll(selector)].map((e) => e.textContent ?? '').join('');
        return (text('.ghost-text-decoration') || text('.ghost-text')).replace(/\u00a0/g, ' ');
      });
      if (ghost.trim() === '') throw new Error('the ghost text is empty');
      await shot('03-ghost-text.png');
    });
    await step('Tab accepts the ghost text', async () => {
      await page.keyboard.press('Tab');
      const probe = ghost.trim().slice(0, 12);
      await page.waitForFunction(
        (p) => (document.querySelector('.editor-instance .view-lines')?.textContent ?? '').replace(/\u00a0/g, ' ').includes(p),
        probe,
        { timeout: 10000 },
      );
      await page.locator('.ghost-text-decoration').first().waitFor({ state: 'hidden', timeout: 5000 }).catch(() => undefined);
      await shot('04-accepted.png');
    });
  } catch {
    // The failing step is recorded in `steps`.
  } finally {
    await context.close();
  }
  console.log('\nUI smoke test (screenshots in out/screenshots/)');
  for (const s of steps) {
    console.log(`  ${s.ok ? 'pass' : 'FAIL'}  ${s.name}${s.ok ? ` (${s.ms} ms)` : `\n        ${s.err}`}`);
    if (s.ok) passed++;
    else failed++;
  }
  if (steps.length < 4 && steps.every((s) => s.ok)) failed++;
}
if (!process.argv.includes('--no-ui')) await uiSmoke();

await browser.close();
stopServer();
if (failed === 0) fs.rmSync(work, { recursive: true, force: true });
else console.log(`\nkept ${work} (server.log, results.json)`);
console.log(`\ntest-host: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
