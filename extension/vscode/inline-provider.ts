// The VS Code inline completion provider: converts the document, the position and the CancellationToken (into an
// AbortSignal that reaches the engine) and hands the rest to the CompletionService.
import * as vscode from 'vscode';

import type { CompletionDocument, CompletionService } from '../completion-service';

function completionDocument(document: vscode.TextDocument): CompletionDocument {
  return {
    languageId: document.languageId,
    lineCount: document.lineCount,
    lineText: (line) => document.lineAt(line).text,
  };
}

function tabSizeOf(document: vscode.TextDocument): number {
  const editor = vscode.window.visibleTextEditors.find((e) => e.document === document);
  const size = editor?.options.tabSize;
  return typeof size === 'number' ? size : 4;
}

export class InlineProvider implements vscode.InlineCompletionItemProvider {
  constructor(private readonly service: CompletionService) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    _context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    if (token.isCancellationRequested) return undefined;
    const controller = new AbortController();
    const subscription = token.onCancellationRequested(() => controller.abort());
    try {
      const text = await this.service.provide(
        completionDocument(document),
        { line: position.line, character: position.character },
        controller.signal,
        tabSizeOf(document),
      );
      if (text === undefined || token.isCancellationRequested) return undefined;
      return [new vscode.InlineCompletionItem(text, new vscode.Range(position, position))];
    } finally {
      subscription.dispose();
    }
  }
}
