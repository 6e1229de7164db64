// The install test: the VSIX as a user gets it. `npm run package` makes it (unless --vsix names one), code-server
// installs it into a fresh extensions dir (`--install-extension`) and runs with PATH holding only node (no cmake,
// make or compilers: nothing can be built at install or load time). Then, on test/fixtures/models/tiny-coder.gguf:
//   1. UI smoke test with NO extensionDevelopmentPath at all, as a user opens VS Code: the status bar shows the
//      engine ready, "Show Engine Stats" names the addon loaded from the extensions dir, ghost text appears and Tab
//      accepts it (screenshots in out/screenshots/install/);
//   2. extension-host suite test/host/*.vsix-test.ts: the extension's path, its unpacked files, PATH, the addon
//      path, an accepted completion. VS Code runs extensionTestsPath only beside an extensionDevelopmentPath, so
//      that names an empty harness extension in the work dir (not this repository): specqd.specqd itself still
//      comes from the extensions dir, which the suite checks.
// Shares its machinery with scripts/test-host.mjs (scripts/code-server.mjs). Exits 0 when everything passed.
//   node scripts/test-install.mjs [--vsix FILE.vsix]      env: CHROMIUM, VERBOSE=1
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  chromiumPath, codeServerEntry, failRun, installExtension, launchBrowser, makeWorkDir, requireFiles, root,
  runExtensionHostTests, runUiSmoke, startCodeServer, testsEntry, tinyCoder,
} from './code-server.mjs';

const tag = 'test-install';
const args = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const target = `${process.platform}-${process.arch}`;
const t0 = Date.now();

const vsixArg = args.indexOf('--vsix');
if (vsixArg >= 0 && !args[vsixArg + 1]) failRun(tag, '--vsix needs a file');
let vsix = vsixArg >= 0 ? path.resolve(args[vsixArg + 1]) : undefined;
if (!vsix) {
  vsix = path.join(root, `${manifest.name}-${target}-${manifest.version}.vsix`);
  console.log(`> node scripts/package.mjs --out ${path.relative(root, vsix)}`);
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'package.mjs'), '--out', vsix], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failRun(tag, `npm run package failed (exit ${r.status ?? r.signal})`);
}
requireFiles(tag, [
  [vsix, 'npm run package'],
  [codeServerEntry, 'npm ci (code-server is a devDependency; see .ci/run for the apt packages it needs)'],
  [chromiumPath, 'apt-get install chromium'],
  [testsEntry, 'npx tsc -p .'],
  [tinyCoder, 'the fixture model is missing'],
]);

const dirs = makeWorkDir('specqd-install-', { 'specqd.targetModel': tinyCoder, 'specqd.debounceMs': 10, 'specqd.maxTokens': 24 });

// PATH with node alone: a symlink to this Node in a fresh folder. The suite checks again from inside the host.
// VSCODE_CLI=1: otherwise the server takes the extension host's environment from a login shell, whose profile puts
// /usr/bin (cmake, g++, make) back on PATH (VS Code 1.100 skips that shell for VSCODE_CLI=1 and nothing else reads it).
const binDir = path.join(dirs.work, 'bin');
fs.mkdirSync(binDir);
fs.symlinkSync(process.execPath, path.join(binDir, 'node'));
const env = { PATH: binDir, VSCODE_CLI: '1' };

console.log(`\ninstalling ${path.relative(root, vsix) || vsix} (PATH=${binDir}: node only)`);
let installed;
try {
  console.log(`  ${installExtension(dirs, vsix, env).split('\n').join('\n  ')}`);
  installed = fs.readdirSync(dirs.extensionsDir).find((d) => d.startsWith(`${manifest.publisher}.${manifest.name}-`));
  if (!installed) throw new Error(`nothing named ${manifest.publisher}.${manifest.name}-* in ${dirs.extensionsDir}`);
} catch (error) {
  failRun(tag, error.message);
}
const listing = (dir, prefix = '') =>
  fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name)).flatMap((e) =>
    e.isDirectory() ? listing(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]);
console.log(`  ${installed}/: ${listing(path.join(dirs.extensionsDir, installed)).join(', ')}`);

let server;
try {
  server = await startCodeServer(dirs, {
    ...env,
    SPECQD_HOST_SUITE: 'vsix',
    SPECQD_HOST_RESULTS: dirs.resultsFile,
    SPECQD_TEST_MODEL: tinyCoder,
    SPECQD_TEST_EXTENSIONS_DIR: dirs.extensionsDir,
    SPECQD_TEST_REPO_ROOT: root,
  });
} catch (error) {
  failRun(tag, error.message);
}
const browser = await launchBrowser();
const verbose = process.env.VERBOSE === '1';
let passed = 0;
let failed = 0;

// --- 1. UI smoke test, no development extension at all ----------------------------------------------------------
{
  const r = await runUiSmoke(browser, server, [], {
    title: 'installed extension (VSIX): UI smoke test',
    shotsDir: path.join(root, 'out', 'screenshots', 'install'),
    addonUnder: path.join(dirs.extensionsDir, installed, 'dist'),
    verbose,
  });
  passed += r.passed;
  failed += r.failed;
}

// --- 2. extension-host suite beside an empty harness extension ---------------------------------------------------
{
  const harness = path.join(dirs.work, 'harness');
  fs.mkdirSync(harness);
  fs.writeFileSync(path.join(harness, 'package.json'), JSON.stringify({
    name: 'install-test-harness', publisher: 'specqd-test', version: '0.0.0', engines: { vscode: '*' },
  }));
  const r = await runExtensionHostTests(
    browser,
    server,
    dirs,
    [['extensionDevelopmentPath', server.remote(harness)], ['extensionTestsPath', server.remote(testsEntry)]],
    { title: 'installed extension (VSIX): extension-host tests', verbose },
  );
  passed += r.passed;
  failed += r.failed;
}
await browser.close();
server.stop();
if (failed === 0) fs.rmSync(dirs.work, { recursive: true, force: true });
else console.log(`\nkept ${dirs.work} (server.log, results.json, extensions/)`);
console.log(`\n${tag}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
