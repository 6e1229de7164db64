// The layer rules of DESIGN.md, checked by grep-like scans so they stay true:
//   - only native/src/binding/ includes napi.h / node_api.h;
//   - kernels/, mxfp4/, gguf/ (and base/, tokenizer/) never include model, speculative or engine headers;
//   - only extension/engine.ts loads the native addon;
//   - only the adapter files import `vscode` (pure logic stays testable in plain Node).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir, exts) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p, exts);
    return exts.some((x) => e.name.endsWith(x)) ? [p] : [];
  });
}

const rel = (p) => path.relative(root, p);
const problems = [];
const native = walk(path.join(root, 'native'), ['.h', '.hpp', '.cc', '.cpp', '.inc']);
for (const file of native) {
  const text = fs.readFileSync(file, 'utf8');
  const r = rel(file);
  if (/#\s*include\s*[<"](napi|node_api)\.h[>"]/.test(text) && !r.startsWith('native/src/binding/')) {
    problems.push(`${r}: includes napi.h outside native/src/binding/`);
  }
  const low = r.match(/^native\/src\/(kernels|mxfp4|gguf|base|tokenizer)\//);
  if (low && /#\s*include\s*"[^"]*(model|speculative|engine)[^"]*\.h"/.test(text)) {
    problems.push(`${r}: the ${low[1]} layer includes model/speculative/engine headers`);
  }
}

// Files allowed to import 'vscode': the extension's adapters (entry point and files under extension/vscode/).
const isAdapter = (r) => r === 'extension/extension.ts' || r.startsWith('extension/vscode/') || r.startsWith('test/host/');
for (const file of walk(path.join(root, 'extension'), ['.ts']).concat(walk(path.join(root, 'test'), ['.ts']))) {
  const text = fs.readFileSync(file, 'utf8');
  const r = rel(file);
  if (/require\([^)]*\.node['"]\)|from ['"][^'"]*\.node['"]|process\.dlopen/.test(text) && r !== 'extension/engine.ts') {
    problems.push(`${r}: loads the native addon (only extension/engine.ts may)`);
  }
  if (/from ['"]vscode['"]|require\(['"]vscode['"]\)/.test(text) && !isAdapter(r)) {
    problems.push(`${r}: imports 'vscode' but is not an adapter (extension/extension.ts, extension/vscode/, test/host/)`);
  }
}

if (problems.length > 0) {
  console.error(`layer rules broken:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`layer rules: ok (${native.length} native files checked)`);
