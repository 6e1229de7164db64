// One completion through the extension's own path outside VS Code — EngineManager loads the engine (inspect, then
// load with the MXFP4 level), CompletionService builds the FIM prompt from a document and post-processes the answer —
// so that no-network.mjs can watch it. Uses the compiled TypeScript in out/ (`npx tsc -p .`, the typecheck step).
//   node test/privacy/complete-through-service.mjs MODEL.gguf
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = path.join(root, 'out', 'extension');
if (!fs.existsSync(path.join(out, 'completion-service.js'))) {
  console.error(`complete-through-service: ${path.relative(root, out)} is not built; run "npx tsc -p ." first`);
  process.exit(1);
}
const require = createRequire(import.meta.url);
const { EngineManager } = require(path.join(out, 'engine-manager.js'));
const { CompletionService } = require(path.join(out, 'completion-service.js'));
const { textLines } = require(path.join(out, 'prompt.js'));
const { defaultSettings } = require(path.join(out, 'settings.js'));

const quiet = { info: () => undefined, warn: () => undefined, error: (m) => console.error(m) };
const manager = new EngineManager(quiet);
await manager.configure({ target: process.argv[2], threads: 1, levels: ['target', 'mxfp4', 'ngram'] });
const loaded = manager.loaded;
if (!loaded) {
  console.error(`complete-through-service: the engine did not load: ${JSON.stringify(manager.state)}`);
  process.exit(1);
}
const service = new CompletionService({
  source: () => ({ engine: loaded.engine, fim: loaded.info.fim, contextLength: loaded.info.contextLength }),
  settings: () => ({ ...defaultSettings, debounceMs: 0, maxTokens: 16 }),
  log: quiet,
});
const lines = textLines('def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    ');
const cursor = { line: lines.lineCount - 1, character: lines.lineText(lines.lineCount - 1).length };
const text = await service.provide({ ...lines, languageId: 'python' }, cursor);
manager.dispose();
if (!service.last?.result || service.last.result.stats.generatedTokens === 0) {
  console.error('complete-through-service: nothing was generated');
  process.exit(1);
}
console.log(`completed through CompletionService: ${JSON.stringify(text)}`);
