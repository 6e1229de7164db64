// Reads and writes the `specqd.*` settings through VS Code's configuration; parsing itself is pure (settings.ts).
import * as vscode from 'vscode';

import { parseSettings, type ParsedSettings } from '../settings';

export const section = 'specqd';

export function readSettings(): ParsedSettings {
  const config = vscode.workspace.getConfiguration(section);
  return parseSettings((key) => config.get<unknown>(key));
}

/** Writes a setting where the user would look for it: the workspace if it overrides the key there, else the user settings. */
export async function writeSetting(key: string, value: unknown): Promise<void> {
  const config = vscode.workspace.getConfiguration(section);
  const inspected = config.inspect(key);
  const target =
    inspected?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await config.update(key, value, target);
}
