// Which model the completion tests use: the FIM code fixture when it exists, else the shared story model (no FIM
// tokens, so the extension completes the prefix as a plain prompt).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { repoRoot, stories260K } from './shared-paths';

export const tinyCoder = path.join(repoRoot, 'test', 'fixtures', 'models', 'tiny-coder.gguf');

export function completionModel(): { path: string; fim: boolean } {
  return fs.existsSync(tinyCoder) ? { path: tinyCoder, fim: true } : { path: stories260K, fim: false };
}
