// The extension as a user gets it: installed from its VSIX into a fresh extensions dir of code-server, started with
// no extensionDevelopmentPath and no build tools on PATH. It must activate from the extensions dir, load the addon
// packed in its own dist/, and complete code on the fixture model. Run by scripts/test-install.mjs
// (SPECQD_HOST_SUITE=vsix), which sets the environment below.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

import type { SpecqdApi } from '../../extension/vscode/controller';

import { acceptGhostText, until } from './helpers';

const model = process.env.SPECQD_TEST_MODEL ?? '';
const extensionsDir = process.env.SPECQD_TEST_EXTENSIONS_DIR ?? '';
const repoRoot = process.env.SPECQD_TEST_REPO_ROOT ?? '';
const real = (p: string) => fs.realpathSync(p);
const isInside = (dir: string, p: string) => !path.relative(real(dir), real(p)).startsWith('..');

describe('SpecQD installed from its VSIX', () => {
  let ext: vscode.Extension<SpecqdApi>;
  let api: SpecqdApi;

  before(() => {
    assert.ok(model && extensionsDir && repoRoot, 'SPECQD_TEST_MODEL, _EXTENSIONS_DIR and _REPO_ROOT are set');
    const found = vscode.extensions.getExtension<SpecqdApi>('specqd.specqd');
    assert.ok(found, 'specqd.specqd is installed');
    ext = found;
  });

  it('runs from the extensions dir, not from the repository', () => {
    assert.ok(isInside(extensionsDir, ext.extensionPath), `${ext.extensionPath} is inside ${extensionsDir}`);
    assert.ok(!isInside(repoRoot, ext.extensionPath), `${ext.extensionPath} is outside the repository`);
    // What the VSIX unpacked: the bundle and the prebuilt addon, no sources, build tree or node_modules.
    assert.deepEqual(fs.readdirSync(path.join(ext.extensionPath, 'dist')).sort(), ['extension.js', 'specqd.node']);
    for (const absent of ['native', 'build', 'node_modules', 'extension', 'scripts', 'CMakeLists.txt']) {
      assert.ok(!fs.existsSync(path.join(ext.extensionPath, absent)), `${absent} is not installed`);
    }
  });

  it('has no compiler or build tool on PATH (nothing is compiled at install or load)', () => {
    const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
    for (const tool of ['cmake', 'make', 'ninja', 'cc', 'c++', 'gcc', 'g++', 'clang', 'node-gyp']) {
      const at = dirs.find((d) => fs.existsSync(path.join(d, tool)));
      assert.equal(at, undefined, `${tool} found in ${at ?? ''}`);
    }
  });

  it('activates and loads the addon packed in its own dist/', async () => {
    api = await ext.activate();
    assert.ok(ext.isActive);
    assert.equal(api.settings().targetModel, model);
    await until('engine ready', () => api.manager.state.kind === 'ready', 60000);
    const report = await vscode.commands.executeCommand<string>('specqd.showStats');
    const addon = /^addon +(.+)$/m.exec(report)?.[1];
    assert.ok(addon, `the stats report names the addon:\n${report}`);
    assert.equal(real(addon), real(path.join(ext.extensionPath, 'dist', 'specqd.node')));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('completes code on the fixture model (ghost text accepted)', async () => {
    const before = 'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    ';
    const { text, offered: last } = await acceptGhostText(before, () => api.service.last);
    assert.ok(last?.text, 'the service produced a completion');
    assert.equal(text, before + last.text, 'the accepted text is the engine completion');
    assert.ok((last.result?.stats.generatedTokens ?? 0) > 0, 'the engine generated tokens');
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });
});
