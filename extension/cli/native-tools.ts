// The repository's native command-line tools (build/native: make-bench-model, bench-forward, ...), which the
// benchmark suite and the demo run as child processes, and the one model transformation they share.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root (this file is bundled into dist/cli.js). */
export const repoRoot = path.resolve(__dirname, '..');

/** Rows of Qwen2.5-Coder's output head: the real vocabulary size the fixture heads are padded to. */
export const QWEN_VOCAB = 151936;

/** The path of a native tool: $SPECQD_TOOLS_DIR, else the build folders. Throws when it is not built. */
export function findNativeTool(name: string): string {
  const dirs = [process.env.SPECQD_TOOLS_DIR, path.join(repoRoot, 'build', 'native'), path.join(repoRoot, 'build-native')];
  for (const dir of dirs) {
    if (dir && fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  throw new Error(`native tool '${name}' not found (run "npm run build", or set SPECQD_TOOLS_DIR); looked in ${dirs.filter(Boolean).join(', ')}`);
}

/**
 * `make-bench-model widen` arguments: a trained model widened to `shape` ('0.5b', '1.5b', or 'keep' for its own)
 * in BF16, with zero weights in the added dimensions and layers (every original activation unchanged), and its tied
 * head padded to `padVocab` rows by copies of real rows (never chosen by greedy argmax) when given. The copy then
 * costs per token what a real model of that shape costs while computing the small model's outputs.
 */
export function widenArgs(src: string, dst: string, shape: string, padVocab?: number): string[] {
  return ['widen', src, dst, '--shape', shape, '--type', 'bf16', ...(padVocab ? ['--pad-vocab', String(padVocab)] : [])];
}

/** Runs a native tool to completion; its stdout, or an error with the end of its stderr. */
export function runNativeTool(file: string, args: string[], timeoutMs = 30 * 60_000): string {
  const r = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 256 << 20, timeout: timeoutMs });
  if (r.status !== 0) {
    throw new Error(`${path.basename(file)} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.error?.message || '').slice(-2000)}`);
  }
  return r.stdout;
}
