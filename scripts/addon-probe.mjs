// Loads one specqd.node by its path (not through extension/engine.ts, which searches fixed places) and prints JSON:
// its buildInfo, and with --model a greedy completion of a fixed code prompt (tokens and the kernel path used).
// scripts/package.mjs runs it in a child process per forced kernel path (SPECQD_ISA is read once per process), on
// the addon taken out of the VSIX; a child also keeps a binary that dies on load (e.g. SIGILL) from killing the caller.
//   node scripts/addon-probe.mjs FILE.node [--model M.gguf] [--max-tokens N]
import { createRequire } from 'node:module';
import * as path from 'node:path';

const args = process.argv.slice(2);
const addonPath = args[0];
if (!addonPath || addonPath.startsWith('--')) {
  console.error('usage: node scripts/addon-probe.mjs FILE.node [--model M.gguf] [--max-tokens N]');
  process.exit(2);
}
const option = (name) => {
  const i = args.indexOf(name);
  return i > 0 ? args[i + 1] : undefined;
};

const addon = createRequire(import.meta.url)(path.resolve(addonPath));
const out = { addon: path.resolve(addonPath), abiVersion: addon.abiVersion, buildInfo: addon.buildInfo ?? null };
const model = option('--model');
if (model) {
  const engine = await addon.loadEngine({ target: path.resolve(model), threads: 1, levels: ['target'] });
  try {
    const result = await engine.complete(
      {
        fim: true,
        prefix: 'class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        ',
        suffix: '\n\n    def pop(self):\n        return self.items.pop()\n',
        maxTokens: Number(option('--max-tokens') ?? 32),
      },
      1,
    );
    out.kernelPath = engine.info().kernelPath;
    out.tokens = result.tokens;
    out.text = result.text;
  } finally {
    engine.close();
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
