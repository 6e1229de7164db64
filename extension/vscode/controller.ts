// Wires the pure pieces to VS Code: settings → engine manager → completion service → provider and status bar,
// plus the `SpecQD:` commands. Every registration is a Disposable owned by the controller, which the extension
// context owns.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

import { inspect, nativeAddonLocation, quantize, type EngineStats, type ModelInspection } from '../engine';
import { CompletionService, type CompletionActivity } from '../completion-service';
import { download, type DownloadResult } from '../download';
import { EngineManager, type EngineProblem, type EngineState } from '../engine-manager';
import { formatBytes, recommendedModels, type RecommendedModel } from '../models';
import { engineOptionsFrom, isLanguageEnabled, type Settings } from '../settings';
import { statsReport } from '../status-text';
import { formatInspection } from '../cli/format';
import { readSettings, section, writeSetting } from './config';
import { InlineProvider } from './inline-provider';
import { StatusBar } from './status-bar';

const statsScheme = 'specqd-stats';
const statsUri = vscode.Uri.from({ scheme: statsScheme, path: '/SpecQD Engine Stats' });

const fixActions = {
  select: 'Select Model File',
  download: 'Download Recommended Model',
  log: 'Show Log',
} as const;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What tests (and other extensions) can reach: `activate()` returns it. */
export interface SpecqdApi {
  readonly manager: EngineManager;
  readonly service: CompletionService;
  settings(): Settings;
  statusText(): string | undefined;
}

export class Controller implements vscode.Disposable, SpecqdApi {
  readonly manager: EngineManager;
  readonly service: CompletionService;
  private readonly statusBar = new StatusBar();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly statsChanged = new vscode.EventEmitter<vscode.Uri>();
  private current: Settings;
  private generating = false;
  private lastProblemShown = '';

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const parsed = readSettings();
    this.current = parsed.settings;
    for (const problem of parsed.problems) log.warn(problem);

    this.manager = new EngineManager(log);
    this.service = new CompletionService({
      source: () => {
        const loaded = this.manager.loaded;
        return loaded && { engine: loaded.engine, fim: loaded.info.fim, contextLength: loaded.info.contextLength };
      },
      settings: () => this.current,
      log,
      onActivity: (activity) => this.onActivity(activity),
    });

    this.disposables.push(
      this.statusBar,
      this.statsChanged,
      { dispose: () => this.manager.dispose() },
      { dispose: () => this.service.cancel() },
      this.manager.onDidChangeState((state) => this.onState(state)),
      vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, new InlineProvider(this.service)),
      vscode.workspace.registerTextDocumentContentProvider(statsScheme, {
        onDidChange: this.statsChanged.event,
        provideTextDocumentContent: () => this.report(),
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(section)) this.applySettings();
      }),
      vscode.commands.registerCommand('specqd.quantizeModel', (src?: string, dst?: string) => this.quantizeModel(src, dst)),
      vscode.commands.registerCommand('specqd.selectModel', (file?: string | vscode.Uri) => this.selectModel(file)),
      vscode.commands.registerCommand('specqd.downloadModel', (model?: RecommendedModel) => this.downloadModel(model)),
      vscode.commands.registerCommand('specqd.showStats', () => this.showStats()),
      vscode.commands.registerCommand('specqd.toggleCompletions', () => this.toggleCompletions()),
      vscode.commands.registerCommand('specqd.toggleLanguage', (languageId?: string) => this.toggleLanguage(languageId)),
      vscode.commands.registerCommand('specqd.restartEngine', () => this.restartEngine()),
      vscode.commands.registerCommand('specqd.inspectModel', (file?: string | vscode.Uri) => this.inspectModel(file)),
      vscode.commands.registerCommand('specqd.showLog', () => this.log.show(true)),
    );
    this.refresh();
  }

  /** Starts loading the configured model in the background; activation does not wait for it. */
  start(): void {
    void this.manager.configure(engineOptionsFrom(this.current));
    if (this.current.targetModel === '' && this.current.enabled) void this.offerModel();
  }

  settings(): Settings {
    return this.current;
  }

  statusText(): string | undefined {
    return this.statusBar.current?.text;
  }

  dispose(): void {
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }

  // --- state ------------------------------------------------------------------------------------------------

  private applySettings(): void {
    const parsed = readSettings();
    for (const problem of parsed.problems) this.log.warn(problem);
    this.current = parsed.settings;
    if (!this.current.enabled) this.service.cancel();
    void this.manager.configure(engineOptionsFrom(this.current));
    this.refresh();
  }

  private onState(state: EngineState): void {
    this.service.cache.clear();
    this.refresh();
    if (state.kind === 'error') void this.showProblem(state.target, state.problem);
    if (state.kind === 'ready') this.lastProblemShown = '';
  }

  private onActivity(activity: CompletionActivity): void {
    this.generating = activity.kind === 'started';
    if (activity.kind === 'finished' && activity.outcome.result) {
      const r = activity.outcome.result;
      this.log.debug(
        `completion: ${r.stats.promptTokens} prompt tokens (${r.stats.reusedTokens} reused), ${r.stats.generatedTokens} generated, ` +
          `${activity.outcome.latencyMs} ms, stop ${r.stopReason}`,
      );
    }
    this.refresh();
  }

  private engineStats(): EngineStats | undefined {
    try {
      return this.manager.loaded?.engine.stats();
    } catch {
      return undefined;
    }
  }

  private refresh(): void {
    const last = this.service.last;
    this.statusBar.update({
      state: this.manager.state,
      enabled: this.current.enabled,
      generating: this.generating,
      ...(last ? { last } : {}),
    });
  }

  private report(): string {
    const loaded = this.manager.loaded;
    let addonPath: string | undefined;
    try {
      addonPath = nativeAddonLocation().path;
    } catch {
      addonPath = undefined;
    }
    const stats = this.engineStats();
    const last = this.service.last;
    return statsReport({
      state: this.manager.state,
      enabled: this.current.enabled,
      cacheEntries: this.service.cache.size,
      ...(loaded ? { info: loaded.info, inspection: loaded.inspection } : {}),
      ...(stats ? { stats } : {}),
      ...(last ? { last } : {}),
      ...(addonPath ? { addonPath } : {}),
    });
  }

  /** One clear message per failure, with the buttons that fix it; details are already in the log. */
  private async showProblem(target: string, problem: EngineProblem): Promise<void> {
    const key = `${target}\u0000${problem.reason}`;
    if (key === this.lastProblemShown) return;
    this.lastProblemShown = key;
    const actions: string[] = problem.reason === 'addon' ? [fixActions.log] : [fixActions.select, fixActions.download, fixActions.log];
    const choice = await vscode.window.showErrorMessage(`SpecQD: ${problem.message}`, ...actions);
    await this.runFix(choice);
  }

  private async offerModel(): Promise<void> {
    const choice = await vscode.window.showInformationMessage(
      'SpecQD needs a code model (a GGUF file) to complete code.',
      fixActions.select,
      fixActions.download,
    );
    await this.runFix(choice);
  }

  private async runFix(choice: string | undefined): Promise<void> {
    if (choice === fixActions.select) await this.selectModel();
    else if (choice === fixActions.download) await this.downloadModel();
    else if (choice === fixActions.log) this.log.show(true);
  }

  // --- commands ---------------------------------------------------------------------------------------------

  private async pickModelFile(file: string | vscode.Uri | undefined, openLabel: string): Promise<string | undefined> {
    if (typeof file === 'string') return file;
    if (file instanceof vscode.Uri) return file.fsPath;
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      filters: { 'GGUF model': ['gguf'] },
      openLabel,
    });
    return picked?.[0]?.fsPath;
  }

  /** Picks a GGUF, checks it with inspect(), and makes it the target model. Returns the inspection, or undefined. */
  private async selectModel(file?: string | vscode.Uri): Promise<ModelInspection | undefined> {
    const modelPath = await this.pickModelFile(file, 'Use as SpecQD model');
    if (!modelPath) return undefined;
    let inspection: ModelInspection;
    try {
      inspection = await inspect(modelPath);
    } catch (error) {
      this.log.error(`select model: ${modelPath}: ${messageOf(error)}`);
      void vscode.window.showErrorMessage(`SpecQD: ${path.basename(modelPath)} is not a valid GGUF model: ${messageOf(error)}`);
      return undefined;
    }
    if (!inspection.supported) {
      const why = inspection.unsupportedReason ?? `architecture ${inspection.architecture}`;
      this.log.error(`select model: ${modelPath}: unsupported (${why})`);
      void vscode.window.showErrorMessage(`SpecQD: ${path.basename(modelPath)} is not supported (${why}).`);
      return undefined;
    }
    this.log.info(`select model: ${modelPath}\n${formatInspection(inspection)}`);
    await writeSetting('targetModel', modelPath);
    if (!inspection.tokenizer.fim.supported) {
      void vscode.window.showWarningMessage(
        'SpecQD: this model has no fill-in-the-middle tokens, so completions only see the text before the cursor.',
      );
    }
    return inspection;
  }

  /** Downloads a recommended model (or `model`, for tests) into global storage and makes it the target. */
  private async downloadModel(model?: RecommendedModel): Promise<string | undefined> {
    let chosen = model;
    if (!chosen) {
      const item = await vscode.window.showQuickPick(
        recommendedModels.map((m) => ({ label: m.label, detail: `${m.detail} · ${formatBytes(m.bytes)}`, model: m })),
        { title: 'SpecQD: Download Recommended Model', placeHolder: 'The model is saved in the extension storage' },
      );
      chosen = item?.model;
    }
    if (!chosen) return undefined;
    const dir = path.join(this.context.globalStorageUri.fsPath, 'models');
    fs.mkdirSync(dir, { recursive: true });
    const dest = path.join(dir, chosen.fileName);
    const target = chosen;
    if (!fs.existsSync(dest)) {
      this.log.info(`download: ${target.url} -> ${dest}`);
      let result: DownloadResult;
      try {
        result = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `SpecQD: downloading ${target.label}`, cancellable: true },
          async (progress, token) => {
            const controller = new AbortController();
            const sub = token.onCancellationRequested(() => controller.abort());
            let reported = 0;
            try {
              return await download({
                url: target.url,
                dest,
                ...(target.sha256 !== undefined ? { sha256: target.sha256 } : {}),
                signal: controller.signal,
                onProgress: ({ received, total }) => {
                  const fraction = total ? received / total : 0;
                  const increment = Math.max(0, fraction * 100 - reported);
                  reported += increment;
                  progress.report({
                    increment,
                    message: total ? `${formatBytes(received)} of ${formatBytes(total)}` : formatBytes(received),
                  });
                },
              });
            } finally {
              sub.dispose();
            }
          },
        );
      } catch (error) {
        const cancelled = error instanceof Error && error.name === 'AbortError';
        this.log[cancelled ? 'info' : 'error'](`download: ${messageOf(error)}`);
        if (!cancelled) void vscode.window.showErrorMessage(`SpecQD: download failed: ${messageOf(error)}`);
        return undefined;
      }
      this.log.info(
        `download: done, ${result.bytes} bytes, sha256 ${result.sha256} (${result.verified ? 'verified' : 'not verified: no checksum known'})` +
          (result.resumedFrom > 0 ? `, resumed from ${result.resumedFrom}` : ''),
      );
    }
    const inspection = await this.selectModel(dest);
    return inspection ? dest : undefined;
  }

  /** Writes the MXFP4 copy of a model (default: the target, next to it); `src`/`dst` skip the dialogs. */
  private async quantizeModel(src?: string, dst?: string): Promise<string | undefined> {
    const source = src ?? (this.current.targetModel || (await this.pickModelFile(undefined, 'Quantize')));
    if (!source) return undefined;
    const suggested = source.replace(/(\.gguf)?$/i, '.mxfp4.gguf');
    const dest =
      dst ??
      (await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(suggested), filters: { 'GGUF model': ['gguf'] } }))?.fsPath;
    if (!dest) return undefined;
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'SpecQD: quantizing to MXFP4', cancellable: true },
        async (progress, token) => {
          const controller = new AbortController();
          const sub = token.onCancellationRequested(() => controller.abort());
          let reported = 0;
          try {
            await quantize(source, dest, {
              signal: controller.signal,
              onProgress: (fraction, tensor) => {
                const increment = Math.max(0, fraction * 100 - reported);
                reported += increment;
                progress.report({ increment, message: `${Math.round(fraction * 100)}% · ${tensor}` });
              },
            });
          } finally {
            sub.dispose();
          }
        },
      );
    } catch (error) {
      const cancelled = error instanceof Error && error.name === 'AbortError';
      this.log[cancelled ? 'info' : 'error'](`quantize: ${messageOf(error)}`);
      if (!cancelled) void vscode.window.showErrorMessage(`SpecQD: quantizing failed: ${messageOf(error)}`);
      return undefined;
    }
    this.log.info(`quantize: wrote ${dest} from ${source}`);
    const use = 'Use as MXFP4 Draft';
    void vscode.window.showInformationMessage(`SpecQD: wrote ${path.basename(dest)}.`, use).then(async (choice) => {
      if (choice === use) await writeSetting('mxfp4', dest);
    });
    return dest;
  }

  private async showStats(): Promise<string> {
    this.statsChanged.fire(statsUri);
    const doc = await vscode.workspace.openTextDocument(statsUri);
    await vscode.window.showTextDocument(doc, { preview: true, preserveFocus: true });
    return doc.getText();
  }

  private async toggleCompletions(): Promise<boolean> {
    const enabled = !this.current.enabled;
    await writeSetting('enabled', enabled);
    this.applySettings();
    void vscode.window.setStatusBarMessage(`SpecQD completions ${enabled ? 'on' : 'off'}`, 2000);
    return enabled;
  }

  /** Flips completions for one language (default: the active editor's) in `specqd.languages`. */
  private async toggleLanguage(languageId?: string): Promise<boolean | undefined> {
    const id = languageId ?? vscode.window.activeTextEditor?.document.languageId;
    if (!id) {
      void vscode.window.showInformationMessage('SpecQD: open a file to toggle completions for its language.');
      return undefined;
    }
    const enabled = !isLanguageEnabled(this.current, id);
    await writeSetting('languages', { ...this.current.languages, [id]: enabled });
    this.applySettings();
    void vscode.window.setStatusBarMessage(`SpecQD completions for ${id} ${enabled ? 'on' : 'off'}`, 2000);
    return enabled;
  }

  private async restartEngine(): Promise<EngineState['kind']> {
    this.log.info('restart requested');
    await this.manager.restart();
    return this.manager.state.kind;
  }

  private async inspectModel(file?: string | vscode.Uri): Promise<ModelInspection | undefined> {
    const modelPath = await this.pickModelFile(file, 'Inspect');
    if (!modelPath) return undefined;
    try {
      const result = await inspect(modelPath);
      this.log.info(`engine: ${nativeAddonLocation().path}\n${formatInspection(result)}`);
      this.log.show(true);
      return result;
    } catch (error) {
      this.log.error(messageOf(error));
      void vscode.window.showErrorMessage(`SpecQD: ${messageOf(error)}`);
      return undefined;
    }
  }
}
