// Extension entry point: creates the log and the controller (extension/vscode/controller.ts), which wires the
// settings, the engine, the completion provider, the status bar and the commands. Activation never waits on the
// engine: the model loads in the background. Everything is owned by context.subscriptions and released on
// deactivate.
import * as vscode from 'vscode';

import { Controller, type SpecqdApi } from './vscode/controller';

export function activate(context: vscode.ExtensionContext): SpecqdApi {
  const log = vscode.window.createOutputChannel('SpecQD', { log: true });
  context.subscriptions.push(log);
  const controller = new Controller(context, log);
  context.subscriptions.push(controller);
  controller.start();
  return controller;
}

export function deactivate(): void {
  // Everything, the engine included, is in context.subscriptions and disposed by VS Code.
}
