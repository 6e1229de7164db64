// Extension entry point: wires commands and (as they land) the completion provider and status bar to the engine.
// Activation never waits on the engine; every registration is owned by context.subscriptions.
import * as vscode from 'vscode';

import { inspect, nativeAddonLocation } from './engine';
import { formatInspection } from './cli/format';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('SpecQD', { log: true });
  context.subscriptions.push(log);

  context.subscriptions.push(
    vscode.commands.registerCommand('specqd.inspectModel', async () => {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: { 'GGUF model': ['gguf'] },
        openLabel: 'Inspect',
      });
      const file = picked?.[0];
      if (!file) return;
      try {
        const result = await inspect(file.fsPath);
        log.info(`engine: ${nativeAddonLocation().path}\n${formatInspection(result)}`);
        log.show(true);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log.error(message);
        void vscode.window.showErrorMessage(`SpecQD: ${message}`);
      }
    }),
  );
}

export function deactivate(): void {
  // Nothing to release yet: every resource is in context.subscriptions.
}
