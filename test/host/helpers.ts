// What the extension-host suites share: waiting for a condition, and getting ghost text from the engine accepted
// into a document the way a user does (trigger the inline suggestion, commit it).
import * as vscode from 'vscode';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 20000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Opens an untitled Python document holding `before`, puts the cursor at its end and triggers / commits inline
 * suggestions until one is accepted (or 40 tries pass). Returns the document's text afterwards, and what `offered()`
 * said right before the commit that changed it: the completion the editor showed then. (Read later, the service's
 * latest completion may already be one for the cursor after the accepted text: accepting is an edit, and the
 * editor asks again.) The caller closes the document.
 */
export async function acceptGhostText<T>(before: string, offered: () => T): Promise<{ text: string; offered: T }> {
  const doc = await vscode.workspace.openTextDocument({ language: 'python', content: before });
  const editor = await vscode.window.showTextDocument(doc);
  const end = doc.positionAt(before.length);
  editor.selection = new vscode.Selection(end, end);
  let text = before;
  let shown = offered();
  for (let i = 0; i < 40 && text === before; i++) {
    await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
    await sleep(300);
    shown = offered();
    await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
    await sleep(100);
    text = doc.getText();
  }
  return { text, offered: shown };
}
