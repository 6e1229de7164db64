// Where the tests find the shared fixtures: ../shared beside the clone (CI lays it there), or SPECQD_SHARED_DIR.
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const sharedDir = process.env.SPECQD_SHARED_DIR ?? path.resolve(repoRoot, '..', 'shared');
export const stories260K = path.join(sharedDir, 'models', 'stories260K.gguf');
