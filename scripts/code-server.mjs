// A throw-away code-server (npm devDependency, VS Code 1.100.3) with Debian's headless Chromium as its client,
// driven by playwright-core: what scripts/test-host.mjs (the extension under development) and
// scripts/test-install.mjs (the extension installed from its VSIX) share. Recipe: ../shared/docs/vscode-host-testing.md.
/* global fetch, document -- document: inside page.evaluate/waitForFunction, which run in the browser */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const codeServerEntry = path.join(root, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
/** The extension-host test entry (compiled by tsc -p .); SPECQD_HOST_SUITE picks the files it runs. */
export const testsEntry = path.join(root, 'out', 'test', 'host', 'index.js');
const sharedDir = process.env.SPECQD_SHARED_DIR ?? path.resolve(root, '..', 'shared');
export const tinyCoder = path.join(root, 'test', 'fixtures', 'models', 'tiny-coder.gguf');
export const stories = path.join(sharedDir, 'models', 'stories260K.gguf');

/** Prints the "0 passed, 1 failed" line the test runner counts, and exits. */
export function failRun(tag, message) {
  console.error(`${tag}: ${message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

/** Fails the run unless each [file, how to get it] exists. */
export function requireFiles(tag, list) {
  for (const [file, fix] of list) {
    if (!fs.existsSync(file)) failRun(tag, `${file} not found: ${fix}`);
  }
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

/**
 * A fresh user-data-dir, extensions dir and workspace (code-server keeps extension hosts and editors alive across
 * page loads, so nothing is reused), with settings that keep the workbench quiet plus `settings`.
 */
export function makeWorkDir(prefix, settings) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dirs = {
    work,
    userDir: path.join(work, 'user-data'),
    extensionsDir: path.join(work, 'extensions'),
    workspace: path.join(work, 'workspace'),
    resultsFile: path.join(work, 'results.json'),
  };
  fs.mkdirSync(path.join(dirs.userDir, 'User'), { recursive: true });
  fs.mkdirSync(dirs.extensionsDir);
  fs.mkdirSync(dirs.workspace);
  fs.writeFileSync(
    path.join(dirs.userDir, 'User', 'settings.json'),
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
        ...settings,
      },
      null,
      2,
    ),
  );
  fs.writeFileSync(path.join(dirs.workspace, 'sample.py'), 'def add(a, b):\n    return a + b\n\n');
  return dirs;
}

/** Environment for code-server: XDG dirs inside the work dir, plus `env`. */
function serverEnv(dirs, env) {
  return { ...process.env, XDG_DATA_HOME: path.join(dirs.work, 'xdg-data'), XDG_CONFIG_HOME: path.join(dirs.work, 'xdg-config'), ...env };
}

/** `code-server --install-extension FILE` into the work dir's extensions dir; returns its output or throws. */
export function installExtension(dirs, vsix, env = {}) {
  const r = spawnSync(
    process.execPath,
    [codeServerEntry, '--user-data-dir', dirs.userDir, '--extensions-dir', dirs.extensionsDir, '--install-extension', vsix],
    { encoding: 'utf8', env: serverEnv(dirs, env), timeout: 120000 },
  );
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (r.status !== 0) throw new Error(`--install-extension failed (exit ${r.status ?? r.signal}): ${output}`);
  return output;
}

/**
 * Starts code-server on a free port (its own process group, killed as a whole on exit: it leaves file watchers
 * otherwise) and waits until it answers. Returns { base, port, remote(path), workbenchUrl(payload), stop() }.
 */
export async function startCodeServer(dirs, env = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  fs.writeFileSync(path.join(dirs.work, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const serverLog = fs.openSync(path.join(dirs.work, 'server.log'), 'w');
  const server = spawn(
    process.execPath,
    [codeServerEntry, '--config', path.join(dirs.work, 'config.yaml'), '--user-data-dir', dirs.userDir,
      '--extensions-dir', dirs.extensionsDir, '--disable-telemetry', '--disable-update-check',
      '--disable-workspace-trust', '--disable-getting-started-override'],
    { detached: true, stdio: ['ignore', serverLog, serverLog], env: serverEnv(dirs, env) },
  );
  let stopped = false;
  const stop = () => {
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
  };
  process.on('exit', stop);
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));

  const t0 = Date.now();
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (i > 300) {
      stop();
      throw new Error(`code-server did not start; see ${path.join(dirs.work, 'server.log')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`code-server ${base} up after ${((Date.now() - t0) / 1000).toFixed(1)} s (work dir ${dirs.work})`);
  // code-server's remote authority is the host:port the browser used.
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const workbenchUrl = (payload) =>
    `${base}/?folder=${encodeURIComponent(dirs.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return { base, port, remote, workbenchUrl, stop };
}

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/**
 * Opens the workbench with `payload` (which names extensionTestsPath), waits for the extension host to exit after
 * the mocha run, and prints the results the run wrote to dirs.resultsFile. Returns { passed, failed }.
 */
export async function runExtensionHostTests(browser, server, dirs, payload, { title, verbose = false }) {
  const started = Date.now();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  if (verbose) page.on('console', (m) => console.log('  |', m.text().slice(0, 400)));
  // The workbench calls window.codeAutomationExit(code) when the extension host exits after the test run.
  const exited = new Promise((resolve) => void page.exposeFunction('codeAutomationExit', (code) => resolve(code)));
  await page.goto(server.workbenchUrl(payload));
  const limit = Number(process.env.SPECQD_HOST_TIMEOUT_MS ?? 240000);
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), limit))]);
  await context.close();
  let passed = 0;
  let failed = 0;
  console.log(`\n${title}`);
  try {
    const r = JSON.parse(fs.readFileSync(dirs.resultsFile, 'utf8'));
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
  return { passed, failed };
}

/**
 * The UI smoke test, through the browser as a user would: the status bar item shows the engine ready, the palette
 * runs "SpecQD: Show Engine Stats" (and, with addonUnder, the report names an addon inside that folder), ghost text
 * appears in sample.py while typing and Tab accepts it. Screenshots of each step go to shotsDir.
 */
export async function runUiSmoke(browser, server, payload, { title, shotsDir, addonUnder, verbose = false }) {
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
    await page.goto(server.workbenchUrl(payload));
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
    if (addonUnder) {
      await step(`the stats name the addon loaded from ${addonUnder}`, async () => {
        const line = await page.waitForFunction(
          () => /addon +(.+)/.exec([...document.querySelectorAll('.view-lines')].map((e) => e.innerText).join('\n').replace(/\u00a0/g, ' '))?.[1],
          undefined,
          { timeout: 15000 },
        );
        const addon = String(await line.jsonValue()).trim();
        if (!addon.startsWith(addonUnder + path.sep)) throw new Error(`the addon in use is ${addon}`);
      });
    }
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
  console.log(`\n${title} (screenshots in ${path.relative(root, shotsDir)}/)`);
  let passed = 0;
  let failed = 0;
  for (const s of steps) {
    console.log(`  ${s.ok ? 'pass' : 'FAIL'}  ${s.name}${s.ok ? ` (${s.ms} ms)` : `\n        ${s.err}`}`);
    if (s.ok) passed++;
    else failed++;
  }
  if (steps.length < (addonUnder ? 5 : 4) && steps.every((s) => s.ok)) failed++;
  return { passed, failed };
}
