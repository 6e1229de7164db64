// The extension-host test entry (extensionTestsPath): VS Code loads this inside its real Node extension host and
// calls run(). Results also go to a JSON file (SPECQD_HOST_RESULTS), because the reporter's output only reaches
// the browser console, not the runner's stdout. SPECQD_HOST_SUITE picks the files: *.test.js (default: the
// extension under development, scripts/test-host.mjs) or *.vsix-test.js ("vsix": the extension installed from its
// VSIX, scripts/test-install.mjs).
import * as fs from 'node:fs';
import * as path from 'node:path';

import Mocha from 'mocha';

interface TestResult {
  title: string;
  ok: boolean;
  ms?: number;
  err?: string;
}

export function run(): Promise<void> {
  const resultsFile = process.env.SPECQD_HOST_RESULTS ?? path.join(__dirname, 'host-results.json');
  const mocha = new Mocha({ ui: 'bdd', timeout: 60000, reporter: 'spec', color: false });
  const suffix = process.env.SPECQD_HOST_SUITE === 'vsix' ? '.vsix-test.js' : '.test.js';
  for (const file of fs.readdirSync(__dirname).sort()) {
    if (file.endsWith(suffix)) mocha.addFile(path.join(__dirname, file));
  }
  return new Promise((resolve, reject) => {
    const results: TestResult[] = [];
    const runner = mocha.run((failures) => {
      fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
      fs.writeFileSync(resultsFile, JSON.stringify({ failures, results }, null, 2));
      if (failures > 0) reject(new Error(`${failures} extension-host tests failed`));
      else resolve();
    });
    runner.on('pass', (t) => results.push({ title: t.fullTitle(), ok: true, ...(t.duration !== undefined ? { ms: t.duration } : {}) }));
    runner.on('fail', (t, err: unknown) =>
      results.push({ title: t.fullTitle(), ok: false, err: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  });
}
