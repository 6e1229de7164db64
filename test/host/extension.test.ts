// The extension inside a real VS Code extension host (code-server), with the real engine on a fixture model:
// activation, every command, the status bar, settings applied live, and ghost text from the engine accepted.
// Run by scripts/test-host.mjs (or scripts/test-electron.mjs), which set the environment below.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

import type { SpecqdApi } from '../../extension/vscode/controller';

import { acceptGhostText, until } from './helpers';

const model = process.env.SPECQD_TEST_MODEL ?? '';
const altModel = process.env.SPECQD_TEST_ALT_MODEL ?? '';

function config() {
  return vscode.workspace.getConfiguration('specqd');
}

describe('SpecQD in the extension host', () => {
  let api: SpecqdApi;

  before(async () => {
    assert.ok(model, 'SPECQD_TEST_MODEL must name the fixture model');
    const ext = vscode.extensions.getExtension<SpecqdApi>('specqd.specqd');
    assert.ok(ext, 'the extension under development is loaded');
    api = await ext.activate();
    assert.ok(ext.isActive);
  });

  it('loads the configured model in the background and shows it in the status bar', async () => {
    assert.equal(api.settings().targetModel, model);
    await until('engine ready', () => api.manager.state.kind === 'ready');
    assert.match(api.statusText() ?? '', /SpecQD/);
    assert.doesNotMatch(api.statusText() ?? '', /loading|error|no model/);
  });

  it('registers every command in the manifest', async () => {
    const ext = vscode.extensions.getExtension('specqd.specqd');
    const manifest = ext?.packageJSON as { contributes: { commands: { command: string }[] } };
    const all = await vscode.commands.getCommands(true);
    for (const { command } of manifest.contributes.commands) assert.ok(all.includes(command), command);
    assert.ok(manifest.contributes.commands.length >= 6);
  });

  it('shows real ghost text from the engine and accepts it', async () => {
    const before = 'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    ';
    const { text, offered: last } = await acceptGhostText(before, () => api.service.last);
    assert.ok(last?.text, 'the service produced a completion');
    assert.equal(text, before + last.text, 'the accepted text is the engine completion');
    const result = last.result ?? undefined;
    if (result) assert.ok(result.stats.generatedTokens > 0);
    assert.match(api.statusText() ?? '', /ms/);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('Show Engine Stats opens the report', async () => {
    const report = await vscode.commands.executeCommand<string>('specqd.showStats');
    assert.match(report, /state {8}ready/);
    assert.match(report, /requests {5}[1-9]/);
    const shown = vscode.window.visibleTextEditors.some((e) => e.document.uri.scheme === 'specqd-stats');
    assert.ok(shown, 'a specqd-stats editor is visible');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('Toggle Completions turns completions off and on, and the status bar follows', async () => {
    assert.equal(await vscode.commands.executeCommand('specqd.toggleCompletions'), false);
    await until('settings applied', () => api.settings().enabled === false);
    assert.equal(config().get('enabled'), false);
    assert.match(api.statusText() ?? '', /off/);
    assert.equal(await vscode.commands.executeCommand('specqd.toggleCompletions'), true);
    await until('settings applied', () => api.settings().enabled === true);
    assert.doesNotMatch(api.statusText() ?? '', /off/);
  });

  it('Toggle Completions for This Language switches one language off and on', async () => {
    assert.equal(await vscode.commands.executeCommand('specqd.toggleLanguage', 'python'), false);
    await until('settings applied', () => api.settings().languages['python'] === false);
    assert.deepEqual(config().get('languages'), { '*': true, python: false });
    assert.equal(await vscode.commands.executeCommand('specqd.toggleLanguage', 'python'), true);
    await until('settings applied', () => api.settings().languages['python'] === true);
    await config().update('languages', undefined, vscode.ConfigurationTarget.Global);
  });

  it('Restart Engine reloads the model', async () => {
    const before = api.manager.loaded?.engine;
    assert.equal(await vscode.commands.executeCommand('specqd.restartEngine'), 'ready');
    assert.notEqual(api.manager.loaded?.engine, before);
  });

  it('a setting change applies without reload; a model change reloads the engine', async () => {
    await config().update('maxTokens', 7, vscode.ConfigurationTarget.Global);
    await until('maxTokens applied', () => api.settings().maxTokens === 7);
    await config().update('maxTokens', undefined, vscode.ConfigurationTarget.Global);
    if (!altModel) return;
    await config().update('targetModel', altModel, vscode.ConfigurationTarget.Global);
    await until('alt model ready', () => api.manager.state.kind === 'ready' && api.manager.loaded?.options.target === altModel);
    await config().update('targetModel', model, vscode.ConfigurationTarget.Global);
    await until('model ready', () => api.manager.state.kind === 'ready' && api.manager.loaded?.options.target === model);
  });

  it('a missing model shows the error state, and fixing it recovers', async () => {
    const missing = path.join(os.tmpdir(), 'specqd-no-such-model.gguf');
    await config().update('targetModel', missing, vscode.ConfigurationTarget.Global);
    await until('error state', () => api.manager.state.kind === 'error');
    const state = api.manager.state;
    assert.equal(state.kind === 'error' && state.problem.reason, 'missing');
    assert.match(api.statusText() ?? '', /error/);
    await config().update('targetModel', model, vscode.ConfigurationTarget.Global);
    await until('model ready', () => api.manager.state.kind === 'ready');
  });

  it('Select Model File validates the file with inspect and sets the model', async () => {
    const notModel = path.join(os.tmpdir(), `specqd-not-a-model-${process.pid}.gguf`);
    fs.writeFileSync(notModel, 'not a gguf');
    assert.equal(await vscode.commands.executeCommand('specqd.selectModel', notModel), undefined);
    assert.equal(api.settings().targetModel, model, 'an invalid file does not replace the model');
    fs.rmSync(notModel);
    const inspection = await vscode.commands.executeCommand<{ supported: boolean }>('specqd.selectModel', model);
    assert.equal(inspection?.supported, true);
    assert.equal(config().get('targetModel'), model);
  });

  it('Download Recommended Model downloads (resumable, checksummed) from a local server and selects it', async () => {
    const body = fs.readFileSync(model);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const server = http.createServer((req, res) => {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, {
        'content-length': body.length - start,
        ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
      });
      res.end(body.subarray(start));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const fileName = `fixture-${process.pid}.gguf`;
      const dest = await vscode.commands.executeCommand<string>('specqd.downloadModel', {
        label: 'fixture', detail: 'test', bytes: body.length, fileName, sha256, url: `http://127.0.0.1:${port}/${fileName}`,
      });
      assert.ok(dest, 'the command returns the downloaded path');
      assert.equal(path.basename(dest), fileName);
      assert.deepEqual(fs.readFileSync(dest), body);
      assert.equal(config().get('targetModel'), dest);
      await until('downloaded model ready', () => api.manager.state.kind === 'ready' && api.manager.loaded?.options.target === dest);
      fs.rmSync(dest);
    } finally {
      server.close();
      await config().update('targetModel', model, vscode.ConfigurationTarget.Global);
      await until('model ready', () => api.manager.state.kind === 'ready' && api.manager.loaded?.options.target === model);
    }
  });

  it('Quantize Model to MXFP4 writes the MXFP4 copy', async () => {
    const dst = path.join(os.tmpdir(), `specqd-host-${process.pid}.mxfp4.gguf`);
    const result = await vscode.commands.executeCommand<string | undefined>('specqd.quantizeModel', model, dst);
    assert.equal(result, dst);
    const inspection = await vscode.commands.executeCommand<{ tensorTypes: { type: string }[] }>('specqd.inspectModel', dst);
    assert.ok(inspection?.tensorTypes.some((t) => /mxfp4/i.test(t.type)), JSON.stringify(inspection?.tensorTypes));
    fs.rmSync(dst, { force: true });
  });

  it('Inspect Model File and Show Log run', async () => {
    const inspection = await vscode.commands.executeCommand<{ architecture: string }>('specqd.inspectModel', model);
    assert.ok(inspection?.architecture);
    await vscode.commands.executeCommand('specqd.showLog');
  });
});
