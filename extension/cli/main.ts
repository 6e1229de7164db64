// `specqd` command-line tool: the engine outside VS Code, over the same facade the extension uses.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { convert, Engine, inspect, quantize, type SpeculationLevel, type WeightType } from '../engine';
import { parseArgs, UsageError } from './args';
import { BENCH_USAGE, runBench } from './bench';
import { runDemo } from './demo';
import { formatInspection } from './format';

const USAGE = `usage:
  specqd inspect <model.gguf> [--json]
      describe a GGUF model file
  specqd complete --model M.gguf (--prompt TEXT | --prefix-file F --suffix-file F)
                  [--max-tokens N] [--threads T] [--context N] [--stop S] [--json]
                  [--levels target,draft,ngram] [--draft D.gguf] [--fixed-drafts] [--own-kv] [--mmap]
                  [--draft-vocab N] [--max-draft N] [--max-branches N]
      greedy completion; prints the text, then token ids and speed (or everything as JSON)
  specqd convert <in.gguf> <out.gguf> --type f32|f16|bf16|q8_0 [--keep-head]
      copy a model with its weight matrices cast to another type (atomic write)
  specqd quantize <in.gguf> <out.gguf> [--keep-head] [--quiet]
      the direct cast to MXFP4 (projections, and the output head unless --keep-head), printing progress;
      atomic, Ctrl-C cancels and leaves no output
${BENCH_USAGE}
  specqd demo [--snippets N] [--max-tokens N] [--repeats N] [--threads T] [--draft D.gguf] [--chart FILE.svg]
              [--real-size-passes N] [--tmp DIR]
      held-out code completed under each speculation stack: text, speed, acceptance, exactness; then the
      same snippets at a real model's cost (the target widened to Qwen2.5-Coder-0.5B's shape; 0 passes skips it)
  specqd --help`;

/**
 * Peak resident memory of this process: weights, caches, and any mapped file pages it touched. Linux: VmHWM, which
 * belongs to this program's address space. getrusage's maxRSS survives exec on Linux, so a process started by a
 * large parent (the benchmark, with its engines loaded) would report the parent's peak instead of its own.
 */
function peakResidentBytes(): number {
  try {
    const kib = /VmHWM:\s*(\d+)\s*kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib !== undefined) return Number(kib) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** Exit codes: 0 ok, 1 the operation failed (bad file...), 2 bad usage, 130 cancelled (quantize). */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  try {
    switch (command) {
      case 'inspect':
        return await runInspect(rest);
      case 'complete':
        return await runComplete(rest);
      case 'convert':
        return await runConvert(rest);
      case 'quantize':
        return await runQuantize(rest);
      case 'bench':
        return await runBench(rest);
      case 'demo': {
        const { options, positional } = parseArgs(rest, {
          snippets: { kind: 'int' },
          'max-tokens': { kind: 'int' },
          repeats: { kind: 'int' },
          threads: { kind: 'int' },
          draft: { kind: 'string' },
          chart: { kind: 'string' },
          'real-size-passes': { kind: 'int' },
          tmp: { kind: 'string' },
        });
        if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
        const ok = await runDemo(
          {
            root: path.resolve(__dirname, '..'),
            snippets: (options.get('snippets') as number | undefined) ?? 4,
            maxTokens: (options.get('max-tokens') as number | undefined) ?? 96,
            repeats: (options.get('repeats') as number | undefined) ?? 5,
            ...(options.has('threads') ? { threads: options.get('threads') as number } : {}),
            ...(options.has('draft') ? { draft: path.resolve(options.get('draft') as string) } : {}),
            chart: (options.get('chart') as string | undefined) ?? path.resolve(__dirname, '..', 'out', 'demo', 'speedup.svg'),
            realSizePasses: (options.get('real-size-passes') as number | undefined) ?? 2,
            ...(options.has('tmp') ? { tmp: path.resolve(options.get('tmp') as string) } : {}),
          },
          (line) => process.stdout.write(`${line}\n`),
        );
        return ok ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`specqd ${command}: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
}

async function runInspect(args: string[]): Promise<number> {
  const { options, positional } = parseArgs(args, { json: { kind: 'flag' } });
  const [file, ...extra] = positional;
  if (file === undefined || extra.length > 0) throw new UsageError('expected one model file');
  const result = await inspect(file);
  process.stdout.write(options.get('json') ? `${JSON.stringify(result, null, 2)}\n` : `${formatInspection(result)}\n`);
  return 0;
}

async function runQuantize(args: string[]): Promise<number> {
  const { options, positional } = parseArgs(args, { 'keep-head': { kind: 'flag' }, quiet: { kind: 'flag' } });
  const [src, dst, ...extra] = positional;
  if (src === undefined || dst === undefined || extra.length > 0) throw new UsageError('expected <in.gguf> <out.gguf>');
  const quiet = options.get('quiet') === true;
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = Date.now();
  let lastPercent = -1;
  try {
    const report = await quantize(src, dst, {
      keepHead: options.get('keep-head') === true,
      signal: controller.signal,
      onProgress: (fraction, tensor) => {
        const percent = Math.floor(fraction * 100);
        if (quiet || percent === lastPercent) return;
        lastPercent = percent;
        process.stdout.write(`${String(percent).padStart(3)}%  ${tensor}\n`);
      },
    });
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `${dst}: ${report.converted} matrices cast to MXFP4 in ${seconds.toFixed(1)} s; ` +
        `${report.bytesIn} -> ${report.bytesOut} bytes of tensors\n` +
        report.kept.map((k) => `  kept: ${k}\n`).join(''),
    );
    return 0;
  } catch (error) {
    if (controller.signal.aborted) {
      process.stderr.write('specqd quantize: cancelled; no output written\n');
      return 130;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const WEIGHT_TYPES: WeightType[] = ['f32', 'f16', 'bf16', 'q8_0', 'mxfp4'];

async function runConvert(args: string[]): Promise<number> {
  const { options, positional } = parseArgs(args, { type: { kind: 'string' }, 'keep-head': { kind: 'flag' } });
  const [src, dst, ...extra] = positional;
  if (src === undefined || dst === undefined || extra.length > 0) throw new UsageError('expected <in.gguf> <out.gguf>');
  const type = options.get('type');
  if (typeof type !== 'string' || !WEIGHT_TYPES.includes(type as WeightType)) {
    throw new UsageError(`--type must be one of ${WEIGHT_TYPES.join(', ')}`);
  }
  const report = await convert(src, dst, { type: type as WeightType, keepHead: options.get('keep-head') === true });
  process.stdout.write(
    `${dst}: ${report.converted} matrices converted to ${type}; ${report.bytesIn} -> ${report.bytesOut} bytes of tensors\n` +
      report.kept.map((k) => `  kept: ${k}\n`).join(''),
  );
  return 0;
}

async function runComplete(args: string[]): Promise<number> {
  const { options, positional } = parseArgs(args, {
    model: { kind: 'string' },
    prompt: { kind: 'string' },
    'prefix-file': { kind: 'string' },
    'suffix-file': { kind: 'string' },
    'max-tokens': { kind: 'int' },
    threads: { kind: 'int' },
    context: { kind: 'int' },
    stop: { kind: 'string' },
    json: { kind: 'flag' },
    levels: { kind: 'string' },
    draft: { kind: 'string' },
    'fixed-drafts': { kind: 'flag' },
    'own-kv': { kind: 'flag' },
    mmap: { kind: 'flag' },
    'draft-vocab': { kind: 'int' },
    'max-draft': { kind: 'int' },
    'max-branches': { kind: 'int' },
  });
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const model = options.get('model');
  if (typeof model !== 'string') throw new UsageError('--model is required');
  const prompt = options.get('prompt');
  const prefixFile = options.get('prefix-file');
  const suffixFile = options.get('suffix-file');
  const fim = prefixFile !== undefined || suffixFile !== undefined;
  if (fim === (prompt !== undefined)) throw new UsageError('give either --prompt, or --prefix-file and --suffix-file');
  if (fim && (typeof prefixFile !== 'string' || typeof suffixFile !== 'string')) {
    throw new UsageError('--prefix-file and --suffix-file go together');
  }
  const engine = await Engine.load({
    target: model,
    ...(options.has('threads') ? { threads: options.get('threads') as number } : {}),
    ...(options.has('context') ? { contextLength: options.get('context') as number } : {}),
    ...(typeof options.get('levels') === 'string'
      ? { levels: (options.get('levels') as string).split(',').map((l) => l.trim()) as SpeculationLevel[] }
      : {}),
    ...(typeof options.get('draft') === 'string' ? { draft: options.get('draft') as string } : {}),
    ...(options.get('fixed-drafts') ? { adaptiveDrafts: false } : {}),
    ...(options.get('mmap') ? { mapWeights: true } : {}),
    ...(options.get('own-kv') ? { shareKv: false } : {}),
    ...(options.has('draft-vocab') ? { draftVocab: options.get('draft-vocab') as number } : {}),
    ...(options.has('max-draft') ? { maxDraft: options.get('max-draft') as number } : {}),
    ...(options.has('max-branches') ? { maxBranches: options.get('max-branches') as number } : {}),
  });
  try {
    const stop = options.get('stop');
    const result = await engine.complete({
      ...(fim
        ? { prefix: fs.readFileSync(prefixFile as string, 'utf8'), suffix: fs.readFileSync(suffixFile as string, 'utf8') }
        : { prompt: prompt as string }),
      maxTokens: (options.get('max-tokens') as number | undefined) ?? 64,
      ...(typeof stop === 'string' ? { stop: [stop] } : {}),
    });
    if (options.get('json')) {
      const peakRssBytes = peakResidentBytes();
      process.stdout.write(`${JSON.stringify({ ...result, engine: engine.info(), peakRssBytes }, null, 2)}\n`);
    } else {
      const s = result.stats;
      process.stdout.write(`${result.text}\n`);
      process.stderr.write(
        `\n[tokens ${result.tokens.join(',')}]\n` +
          `[prompt ${s.promptTokens} tokens (${s.reusedTokens} reused) in ${s.prefillMs.toFixed(1)} ms, ` +
          `${s.prefillTokensPerSecond.toFixed(1)} tok/s; generated ${s.generatedTokens} in ${s.decodeMs.toFixed(1)} ms, ` +
          `${s.decodeTokensPerSecond.toFixed(1)} tok/s; stop: ${result.stopReason}; kernels ${engine.info().kernelPath}]\n` +
          s.levels
            .slice(1)
            .map(
              (l) =>
                `[level ${l.name}: proposed ${l.proposed}, accepted ${l.accepted} (${(100 * l.acceptance).toFixed(1)}%), ` +
                `mean draft ${l.meanDraftLength.toFixed(2)}, ` +
                (l.branches > 0 ? `branches ${l.branchesKept}/${l.branches} kept, ` : '') +
                `${l.ms.toFixed(1)} ms]\n`,
            )
            .join(''),
      );
    }
  } finally {
    engine.close();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`specqd: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
