// The status bar item: engine state and throughput (statusText() decides the words); a click opens the stats.
import * as vscode from 'vscode';

import { statusText, type StatusText, type StatusView } from '../status-text';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('specqd.status', vscode.StatusBarAlignment.Right, 100);
  private shown: StatusText | undefined;

  constructor() {
    this.item.name = 'SpecQD';
    this.item.command = 'specqd.showStats';
    this.item.show();
  }

  /** What the item shows now (for tests and the stats report). */
  get current(): StatusText | undefined {
    return this.shown;
  }

  update(view: StatusView): void {
    const shown = statusText(view);
    this.shown = shown;
    this.item.text = shown.text;
    this.item.tooltip = shown.tooltip;
    this.item.backgroundColor =
      shown.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : shown.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
