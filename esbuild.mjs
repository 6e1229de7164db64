// Bundles the extension and the CLI. esbuild does not typecheck: `npm run typecheck` (tsc --noEmit) does.
// The native addon is not bundled: it is copied next to the bundles and loaded by path (extension/engine.ts).
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

await Promise.all([
  esbuild.build({ ...common, entryPoints: ['extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] }),
  esbuild.build({ ...common, entryPoints: ['extension/cli/main.ts'], outfile: 'dist/cli.js' }),
]);
