// `specqd bench`: the benchmark suite (issue 6) and the speed figures of issue 3. Everything it reports is a ratio
// or a fraction measured side by side in one run on one machine; absolute numbers are printed for context only.
//
//  1. Memory read bandwidth (native bench-bandwidth), before and after the per-token costs.
//  2. Per-token costs on shape-realistic models (Qwen2.5-Coder-0.5B, and -1.5B without --quick; random weights,
//     BF16 and F16, and the MXFP4 copy of each BF16 model from our quantizer, written into a temporary folder and
//     deleted afterwards): decode, prefill and verification of k tokens in one pass, ours (bench-forward) and
//     llama.cpp's (llama-bench) alternately.
//  3. End-to-end speculative configurations on the trained fixture models widened to the 0.5B shape by zero padding
//     (same greedy tokens as the small model, real memory traffic), with a check that every configuration produced
//     exactly the baseline's tokens, and llama.cpp's own speculative decoding on the same files when available.
//  4. JSON, a markdown report and SVG charts in the output folder.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { convert, Engine, type CompletionResult, type SpeculationLevel } from '../engine';
import { parseArgs, UsageError } from './args';
import { barChart, lineChart, type BarGroup, type LineSeries } from './bench-charts';
import { loadFimTasks, type FimTask } from './bench-prompts';
import { renderMarkdown } from './bench-report';
import { findNativeTool, QWEN_VOCAB, repoRoot, runNativeTool, widenArgs } from './native-tools';
import { median } from './statistics';

// ---- result types (the JSON report) -------------------------------------------------------------------------

export interface BandwidthResult {
  threads: number;
  bestGBps: number;
  medianGBps: number;
  samplesGBps: number[];
}

export interface ForwardCosts {
  decodeTokensPerSecond: number;
  prefill: { tokens: number; tokensPerSecond: number }[];
  /** Milliseconds of one pass over k tokens, and its ratio to k = 1. */
  verify: { k: number; ms: number; ratio: number }[];
}

export interface ShapeCell {
  threads: number;
  ours: ForwardCosts;
  llama?: ForwardCosts;
  /** ours ÷ llama.cpp, per round then the median */
  decodeRatio?: number;
  prefillRatio: { tokens: number; ratio: number }[];
  /** bytes read per token × decode tokens/s ÷ measured read bandwidth at this thread count */
  bandwidthFraction: { ours: number; llama?: number };
  rounds: { ours: ForwardCosts; llama?: ForwardCosts }[];
}

export interface ShapeModelResult {
  name: string;
  shape: string;
  type: string;
  fileBytes: number;
  bytesPerToken: number;
  headBytes: number;
  cells: ShapeCell[];
}

export interface ConfigResult {
  name: string;
  levels: SpeculationLevel[];
  available: boolean;
  note?: string;
  generatedTokens: number;
  decodeMs: number;
  prefillMs: number;
  totalMs: number;
  decodeTokensPerSecond: number;
  speedup: number;
  sameTokensAsBaseline: number;
  prompts: number;
  acceptance: {
    level: string; proposed: number; accepted: number; acceptance: number; meanDraftLength: number;
    /** Runner-up tokens verified beside this level's drafts, and those kept (absent in reports before them). */
    branches?: number; branchesKept?: number;
  }[];
  /** Decode tokens/s of the baseline runs paired with this stack's (its speedup is over these). */
  pairedBaselineTokensPerSecond?: number;
  /**
   * This stack's decode tokens/s over the baseline's across every pair of the pass. On a shared host the baseline
   * runs paired with one stack can all land in a slow or a fast stretch (measured: 33.5-36.5 tok/s beside some
   * stacks, 43-45 beside the same stacks in a run minutes later); this ratio shares one baseline among all stacks.
   */
  speedupOverAllBaselineRuns?: number;
  /** Peak resident memory of a process that loads this stack and completes one prompt (bytes). */
  peakRssBytes?: number;
  /** With more than one pass (--e2e-rounds): the paired speedup of each pass on its own; `speedup` pools them. */
  roundSpeedups?: number[];
}

export interface EndToEndResult {
  target: string;
  draft: string;
  vocabRows: number;
  threads: number;
  /** FIM tasks each stack completed per pass (the baseline ran once beside every stack on each). */
  prompts: number;
  /** Passes over all the stacks (absent in reports before --e2e-rounds: 1). */
  rounds?: number;
  maxTokens: number;
  bytesPerToken: number;
  headBytes: number;
  configs: ConfigResult[];
  llamaSpeculative?: { decodeTokensPerSecond: number; baselineTokensPerSecond: number; speedup: number; accepted: number; drafted: number; note: string };
}

export interface WideningCheck {
  small: string;
  wide: string;
  prompts: number;
  identicalGreedy: number;
  teacherForcedTop1Agreement: number;
  positions: number;
  firstMismatch?: string;
}

/** Issue 5's two decode ratios for the 0.5B shape at one thread count. */
export interface Mxfp4Ratios {
  /** '0.5b' | '1.5b' (reports before the 1.5B copy existed have no shape: 0.5b) */
  shape?: string;
  threads: number;
  /** our MXFP4 decode ÷ our BF16 decode (bytes per token 4.25 vs 16 bits per weight) */
  overOurBf16?: number;
  /** our MXFP4 decode ÷ llama.cpp's decode of the same MXFP4 file */
  overLlama?: number;
}

/** Greedy agreement of a trained model's MXFP4 copy with the model (native mxfp4-agreement). */
export interface AgreementResult {
  model: string;
  files: number;
  positions: number;
  configs: { name: string; agreement: number; bytesPerToken: number }[];
  targetBytesPerToken: number;
}

export interface BenchReport {
  command: string;
  quick: boolean;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  bandwidth: { when: string; results: BandwidthResult[] }[];
  llama: { available: boolean; version?: string; binDir?: string; note: string };
  shapeModels: ShapeModelResult[];
  mxfp4Ratios: Mxfp4Ratios[];
  agreement: AgreementResult[];
  widening: WideningCheck[];
  endToEnd: EndToEndResult[];
  notes: string[];
}

export interface MachineInfo {
  cpuModel: string;
  flags: string[];
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  kernelPath: string;
  loadAverageStart: number[];
  loadAverageEnd: number[];
  threadsUsed: number[];
}

// ---- helpers ------------------------------------------------------------------------------------------------------

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

const TOOLS = ['make-bench-model', 'bench-forward', 'bench-bandwidth', 'mxfp4-agreement'];
let privateTools: string | undefined;

function findTool(name: string): string {
  return privateTools ? path.join(privateTools, name) : findNativeTool(name);
}

/**
 * Copies the native tools and the addon into the run's temporary folder and uses those copies, so a rebuild during
 * the run (a shared checkout) can neither change what is measured halfway nor crash the process that has the
 * addon mapped.
 */
function usePrivateBinaries(tmp: string): string[] {
  const dir = path.join(tmp, 'bin');
  fs.mkdirSync(dir);
  const used: string[] = [];
  for (const name of TOOLS) {
    const from = findTool(name);
    fs.copyFileSync(from, path.join(dir, name));
    fs.chmodSync(path.join(dir, name), 0o755);
    used.push(from);
  }
  privateTools = dir;
  const addon = [process.env.SPECQD_ADDON, path.join(repoRoot, 'dist', 'specqd.node'), path.join(repoRoot, 'build', 'Release', 'specqd.node')]
    .find((p): p is string => !!p && fs.existsSync(p));
  if (addon) {
    fs.copyFileSync(addon, path.join(dir, 'specqd.node'));
    process.env.SPECQD_ADDON = path.join(dir, 'specqd.node');
    used.push(addon);
  }
  return used;
}

// Single-thread figures are measured on one fixed CPU, ours and llama.cpp's alike. On the 2-core development VM the
// two virtual CPUs differed by up to 1.3x at times (bench-forward, MXFP4 0.5B decode pinned with taskset: 96 tok/s
// on one, 74 on the other, three rounds back to back), so a process the scheduler happened to place on the slower
// one would have skewed any ratio it entered. Multi-threaded runs use every CPU and are not pinned.
interface CpuPinning {
  /** the CPU single-thread runs are pinned to: the first this process may run on */
  single: number;
  /** every CPU this process may run on, as taskset writes them (e.g. "0-1") */
  allowed: string;
}
let cpuPinning: CpuPinning | undefined;

/** The CPUs this process may run on, when `taskset` exists (Linux); undefined otherwise. */
function chooseCpuPinning(): CpuPinning | undefined {
  try {
    const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    const single = allowed === undefined ? undefined : /^\d+/.exec(allowed)?.[0];
    if (allowed === undefined || single === undefined || spawnSync('taskset', ['--version']).status !== 0) return undefined;
    return { single: Number(single), allowed };
  } catch {
    return undefined;
  }
}

/** [file, args], prefixed with `taskset -c CPU` when the command runs one thread and a CPU was chosen. */
function pinned(file: string, args: string[], threads: number): [string, string[]] {
  return threads === 1 && cpuPinning ? ['taskset', ['-c', String(cpuPinning.single), file, ...args]] : [file, args];
}

/** Pins every thread of this process (threads 1) or lets it run anywhere again; for the in-process measurements. */
function pinSelf(threads: number): void {
  if (!cpuPinning) return;
  spawnSync('taskset', ['-a', '-p', '-c', threads === 1 ? String(cpuPinning.single) : cpuPinning.allowed, String(process.pid)]);
}

/**
 * Rewrites a model file the suite just wrote by copying it (copy_file_range), the way a `cp` would. llama.cpp reads
 * weights through a memory map, and on this kernel (Linux 6.18, ext4) a map of a freshly written file decoded BF16
 * at 18-23 tok/s where a `cp` of the same bytes decoded at 26-28 (bench-forward, 0.5B shape, one thread, runs
 * interleaved): the speed follows how the file's pages sit in the page cache. The copy gives llama.cpp's map the
 * faster layout. Our engine copies the weights into memory at load and does not depend on it.
 */
function settleFile(file: string): void {
  const copy = `${file}.settled`;
  fs.copyFileSync(file, copy);
  fs.renameSync(copy, file);
}

function run(file: string, args: string[], timeoutMs = 30 * 60_000, threads = 0): string {
  const [command, commandArgs] = pinned(file, args, threads);
  return runNativeTool(command, commandArgs, timeoutMs);
}

function machineInfo(): Omit<MachineInfo, 'kernelPath' | 'loadAverageEnd' | 'threadsUsed'> {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  let flags: string[] = [];
  try {
    const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? cpuModel;
    const all = (/flags\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? '').split(/\s+/);
    const interesting = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16', 'avx512_vnni', 'avx512vbmi', 'amx_bf16', 'amx_int8'];
    flags = interesting.filter((f) => all.includes(f));
  } catch {
    // not Linux: the model name from os.cpus() is enough
  }
  return {
    cpuModel,
    flags,
    cores: os.cpus().length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverageStart: os.loadavg().map((v) => +v.toFixed(2)),
  };
}

function measureBandwidth(quick: boolean, threads: number[]): BandwidthResult[] {
  const all = [...new Set([1, ...threads, os.cpus().length])].sort((a, b) => a - b);  // always 1 and all cores
  const out = run(findTool('bench-bandwidth'), ['--mib', quick ? '512' : '1024', '--reps', quick ? '5' : '7', '--threads', all.join(',')]);
  const parsed = JSON.parse(out) as { results: { threads: number; best_gbps: number; median_gbps: number; samples_gbps: number[] }[] };
  return parsed.results.map((r) => ({ threads: r.threads, bestGBps: r.best_gbps, medianGBps: r.median_gbps, samplesGBps: r.samples_gbps }));
}

// ---- ours: bench-forward --------------------------------------------------------------------------------------------

interface ForwardJson {
  bytes_per_token: number;
  head_bytes: number;
  n_vocab: number;
  kernel_path: string;
  decode?: { tokens_per_s: number };
  prefill: { tokens: number; tokens_per_s: number }[];
  verify: { k: number; ms: number; ratio_to_first: number }[];
}

function benchForward(model: string, threads: number, opts: { decode: number; prefill: number[]; verify: number[]; depth: number; reps: number }): ForwardJson {
  const out = run(findTool('bench-forward'), [
    model, '--threads', String(threads), '--decode', String(opts.decode), '--prefill', opts.prefill.join(','),
    '--verify', opts.verify.join(','), '--depth', String(opts.depth), '--reps', String(opts.reps),
  ], undefined, threads);
  return JSON.parse(out) as ForwardJson;
}

function forwardCosts(j: ForwardJson): ForwardCosts {
  return {
    decodeTokensPerSecond: j.decode?.tokens_per_s ?? NaN,
    prefill: j.prefill.map((p) => ({ tokens: p.tokens, tokensPerSecond: p.tokens_per_s })),
    verify: j.verify.map((v) => ({ k: v.k, ms: v.ms, ratio: v.ratio_to_first })),
  };
}

// ---- llama.cpp: llama-bench and llama-speculative-simple ----------------------------------------------------------

interface LlamaTools {
  /** llama-bench built from source, or node-llama-cpp's prebuilt binary through bench/llama-node.mjs */
  kind: 'llama-bench' | 'node-llama-cpp';
  bench?: string;
  speculative?: string;
  nodeScript?: string;
  version: string;
}

function findLlama(dirOption: string | undefined): LlamaTools | string {
  const dirs = [dirOption, process.env.SPECQD_LLAMA_BIN_DIR, '/tmp/bench-llama/llama-build/bin'].filter((d): d is string => !!d);
  for (const dir of dirs) {
    const bench = path.join(dir, 'llama-bench');
    if (!fs.existsSync(bench)) continue;
    const spec = path.join(dir, 'llama-speculative-simple');
    // llama-bench has no --version; the other tools of the same build do.
    const r = fs.existsSync(spec) ? spawnSync(spec, ['--version'], { encoding: 'utf8' }) : undefined;
    const version = `${r?.stdout ?? ''}${r?.stderr ?? ''}`.split('\n').filter((l) => /^(version|built)/.test(l)).join('; ').trim() || 'unknown';
    return { kind: 'llama-bench', bench, ...(fs.existsSync(spec) ? { speculative: spec } : {}), version };
  }
  const nodeScript = path.join(repoRoot, 'bench', 'llama-node.mjs');
  if (fs.existsSync(path.join(repoRoot, 'test', 'parity', 'node_modules', 'node-llama-cpp', 'package.json')) && fs.existsSync(nodeScript)) {
    return { kind: 'node-llama-cpp', nodeScript, version: 'node-llama-cpp 3.21.1 prebuilt binary (llama.cpp 0.4.0, run-time CPU variant)' };
  }
  return `llama-bench not found (looked in ${dirs.join(', ')}) and node-llama-cpp not installed (npm ci --prefix test/parity --omit=optional); see bench/README.md`;
}

function llamaNode<T>(tools: LlamaTools, request: { mode: string; threads: number } & Record<string, unknown>): T {
  return JSON.parse(run(process.execPath, [tools.nodeScript as string, JSON.stringify(request)], undefined, request.threads)) as T;
}

interface LlamaBenchRow {
  n_prompt: number;
  n_gen: number;
  n_depth?: number;
  avg_ts: number;
  avg_ns: number;
  samples_ns: number[];
}

function llamaBench(tools: LlamaTools, model: string, threads: number, opts: { decode: number; prefill: number[]; verify: number[]; depth: number; reps: number }): ForwardCosts {
  if (tools.kind === 'node-llama-cpp') return llamaNode<ForwardCosts>(tools, { mode: 'costs', model, threads, ...opts });
  const bench = tools.bench as string;
  const common = ['-m', model, '-t', String(threads), '-r', String(opts.reps), '-o', 'json'];
  // Prefill from an empty cache; decode and verification after `depth` tokens of context, as bench-forward does.
  const pre = JSON.parse(run(bench, [...common, '-p', opts.prefill.join(','), '-n', '0'], undefined, threads)) as LlamaBenchRow[];
  const dec = JSON.parse(run(bench, [...common, '-p', opts.verify.join(','), '-n', String(opts.decode), '-d', String(opts.depth)], undefined, threads)) as LlamaBenchRow[];
  const verifyMs = (k: number): number => {
    const row = dec.find((r) => r.n_prompt === k && r.n_gen === 0);
    return row ? median(row.samples_ns) / 1e6 : NaN;
  };
  const base = verifyMs(opts.verify[0]);
  const tg = dec.find((r) => r.n_gen > 0 && r.n_prompt === 0);
  return {
    decodeTokensPerSecond: tg ? tg.n_gen / (median(tg.samples_ns) / 1e9) : NaN,
    prefill: opts.prefill.map((n) => {
      const row = pre.find((r) => r.n_prompt === n && r.n_gen === 0);
      return { tokens: n, tokensPerSecond: row ? n / (median(row.samples_ns) / 1e9) : NaN };
    }),
    verify: opts.verify.map((k) => ({ k, ms: verifyMs(k), ratio: verifyMs(k) / base })),
  };
}

// ---- end to end -------------------------------------------------------------------------------------------------

// shareKv false: the MXFP4 level keeps a cache of its own instead of reading the target's (issue 7 asks for both).
// draftVocab: the engine's option of that name (unset: its default).
type StackConfig = { name: string; levels: SpeculationLevel[]; shareKv?: boolean; draftVocab?: number };
const CONFIGS: StackConfig[] = [
  { name: 'target alone', levels: ['target'] },
  { name: 'target ← ngram', levels: ['target', 'ngram'] },
  { name: 'target ← draft', levels: ['target', 'draft'] },
  { name: 'target ← draft ← ngram', levels: ['target', 'draft', 'ngram'] },
  { name: 'target ← mxfp4', levels: ['target', 'mxfp4'] },
  { name: 'target ← mxfp4 (own KV cache)', levels: ['target', 'mxfp4'], shareKv: false },
  { name: 'target ← mxfp4 ← ngram', levels: ['target', 'mxfp4', 'ngram'] },
  { name: 'target ← mxfp4 ← draft', levels: ['target', 'mxfp4', 'draft'] },
  { name: 'target ← mxfp4 ← draft ← ngram', levels: ['target', 'mxfp4', 'draft', 'ngram'] },
  { name: 'target ← mxfp4 ← draft ← ngram (own KV cache)', levels: ['target', 'mxfp4', 'draft', 'ngram'], shareKv: false },
];

/**
 * Peak resident memory of one stack: a fresh `specqd complete` process per configuration (a process's peak cannot
 * be split between engines loaded side by side), completing the task whose prefix and suffix are in these files.
 */
function peakRss(target: string, draft: string, config: StackConfig, prefixFile: string, suffixFile: string, threads: number): number | undefined {
  const args = [path.join(__dirname, 'cli.js'), 'complete', '--model', target, '--draft', draft, '--levels', config.levels.join(','),
    '--prefix-file', prefixFile, '--suffix-file', suffixFile, '--max-tokens', '16', '--threads', String(threads), '--json',
    ...(config.shareKv === false ? ['--own-kv'] : []),
    ...(config.draftVocab !== undefined ? ['--draft-vocab', String(config.draftVocab)] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as { peakRssBytes?: number }).peakRssBytes;
}

/**
 * Every stack against the target alone, prompt by prompt. Only the baseline and the stack being measured are loaded
 * at a time (each engine holds its own copy of the weights: ten stacks of the 1.5B shape would not fit in memory),
 * and the baseline runs right beside each stack on every prompt, in alternating order, so a stack's speedup is the
 * ratio of paired runs and the host's minute-to-minute drift cancels out. With rounds > 1 the whole pass over the
 * stacks repeats (a stack's passes minutes apart, its engine loaded afresh each time, so what its draft control
 * learns and where the host's slow stretches fall differ from pass to pass); every figure pools the passes, and
 * each pass's own speedup is kept to show the spread.
 */
async function endToEnd(target: string, draft: string, stacks: StackConfig[], tasks: FimTask[], threads: number, maxTokens: number, costs: ForwardJson,
  tmp: string, rounds: number): Promise<EndToEndResult> {
  const rssPrefix = path.join(tmp, 'rss-prefix.txt');
  const rssSuffix = path.join(tmp, 'rss-suffix.txt');
  if (tasks.length > 0) {
    fs.writeFileSync(rssPrefix, tasks[0].prefix);
    fs.writeFileSync(rssSuffix, tasks[0].suffix);
  }
  const configs: ConfigResult[] = stacks.map((c) => ({
    name: c.name, levels: c.levels, available: true, generatedTokens: 0, decodeMs: 0, prefillMs: 0, totalMs: 0,
    decodeTokensPerSecond: 0, speedup: NaN, sameTokensAsBaseline: 0, prompts: 0, acceptance: [],
    ...(rounds > 1 ? { roundSpeedups: [] } : {}),
  }));
  type Tally = { proposed: number; accepted: number; drafts: number; rounds: number; branches: number; branchesKept: number };
  // Per stack, over every pass: the paired baseline runs' decode time and tokens, and the levels' counts.
  const paired = stacks.map(() => ({ baselineMs: 0, baselineTokens: 0, acceptance: new Map<string, Tally>() }));
  const add = (c: ConfigResult, r: CompletionResult, baseline: number[]): void => {
    c.prompts++;
    c.generatedTokens += r.stats.generatedTokens;
    c.decodeMs += r.stats.decodeMs;
    c.prefillMs += r.stats.prefillMs;
    c.totalMs += r.stats.totalMs;
    if (r.tokens.length === baseline.length && r.tokens.every((t, j) => t === baseline[j])) c.sameTokensAsBaseline++;
  };
  const base = configs[0];
  // One short completion after every load, unmeasured: the first request of an engine also pays for first touches
  // of its KV cache and scratch, which a user's long-lived engine pays once. Not one of the tasks, whose prompt
  // would then already be in the cache.
  const warm = async (engine: Engine): Promise<void> => {
    await engine.complete({ prefix: 'def warm_up(items):\n    total = 0\n    for item in items:\n        ', suffix: '\n    return total\n', maxTokens: 8 });
  };
  // The baseline's tokens of its first run on each task: its later runs must repeat them exactly.
  const firstBaselineTokens = new Map<number, number[]>();
  const baseline = await Engine.load({ target, draft, levels: stacks[0].levels, threads });
  try {
    await warm(baseline);
    const schedule = Array.from({ length: rounds }, (_, round) => stacks.map((c, ci) => ({ round, c, ci }))).flat();
    for (const { round, c, ci } of schedule) {
      const result = configs[ci];
      if (round === 0) {
        const rss = tasks.length > 0 ? peakRss(target, draft, c, rssPrefix, rssSuffix, threads) : undefined;
        if (rss !== undefined) result.peakRssBytes = rss;
      }
      if (ci === 0 || !result.available) continue;
      let engine: Engine;
      try {
        engine = await Engine.load({
          target, draft, levels: c.levels, threads,
          ...(c.shareKv === false ? { shareKv: false } : {}),
          ...(c.draftVocab !== undefined ? { draftVocab: c.draftVocab } : {}),
        });
      } catch (error) {
        result.available = false;
        result.note = `skipped: ${error instanceof Error ? error.message : String(error)}`;
        continue;
      }
      const acceptance = paired[ci].acceptance;
      let roundBaselineMs = 0;
      let roundStackMs = 0;
      await warm(engine);
      try {
        for (const [ti, task] of tasks.entries()) {
          const request = { prefix: task.prefix, suffix: task.suffix, maxTokens };
          // Alternate which of the pair runs first (caches, the other vCPU's load), and swap it from pass to pass.
          const first = (ti + round) % 2 === 0 ? baseline : engine;
          const second = first === baseline ? engine : baseline;
          const r1 = await first.complete(request);
          const r2 = await second.complete(request);
          const [rb, rc] = first === baseline ? [r1, r2] : [r2, r1];
          if (!firstBaselineTokens.has(ti)) firstBaselineTokens.set(ti, rb.tokens);
          add(base, rb, firstBaselineTokens.get(ti) as number[]);
          add(result, rc, rb.tokens);
          paired[ci].baselineMs += rb.stats.decodeMs;
          paired[ci].baselineTokens += rb.stats.generatedTokens;
          roundBaselineMs += rb.stats.decodeMs;
          roundStackMs += rc.stats.decodeMs;
          for (const l of rc.stats.levels.slice(1)) {
            const a: Tally = acceptance.get(l.name) ?? { proposed: 0, accepted: 0, drafts: 0, rounds: 0, branches: 0, branchesKept: 0 };
            a.proposed += l.proposed;
            a.accepted += l.accepted;
            a.branches += l.branches;
            a.branchesKept += l.branchesKept;
            a.drafts += l.meanDraftLength * l.rounds;
            a.rounds += l.rounds;
            acceptance.set(l.name, a);
          }
        }
      } finally {
        engine.close();
      }
      result.roundSpeedups?.push(roundStackMs > 0 ? roundBaselineMs / roundStackMs : NaN);
      const { baselineMs, baselineTokens } = paired[ci];
      result.speedup = result.decodeMs > 0 ? baselineMs / result.decodeMs : NaN;
      result.pairedBaselineTokensPerSecond = baselineMs > 0 ? (baselineTokens * 1000) / baselineMs : 0;
      result.decodeTokensPerSecond = result.decodeMs > 0 ? (result.generatedTokens * 1000) / result.decodeMs : 0;
      result.acceptance = [...acceptance.entries()].map(([level, a]) => ({
        level, proposed: a.proposed, accepted: a.accepted, acceptance: a.proposed ? a.accepted / a.proposed : 0,
        meanDraftLength: a.rounds ? a.drafts / a.rounds : 0, branches: a.branches, branchesKept: a.branchesKept,
      }));
      const pass = rounds > 1 ? ` (pass ${round + 1}/${rounds}: ${(result.roundSpeedups?.at(-1) ?? NaN).toFixed(2)}x)` : '';
      log(`  ${c.name}: ${result.speedup.toFixed(2)}x over the paired baseline runs${pass}, ${result.sameTokensAsBaseline}/${result.prompts} identical`);
    }
  } finally {
    baseline.close();
  }
  base.decodeTokensPerSecond = base.decodeMs > 0 ? (base.generatedTokens * 1000) / base.decodeMs : 0;
  base.speedup = 1;
  for (const c of configs) {
    if (c.available && base.decodeTokensPerSecond > 0) c.speedupOverAllBaselineRuns = c.decodeTokensPerSecond / base.decodeTokensPerSecond;
  }
  return {
    target, draft, vocabRows: costs.n_vocab, threads, prompts: tasks.length, rounds, maxTokens, bytesPerToken: costs.bytes_per_token, headBytes: costs.head_bytes,
    configs,
  };
}

/** Greedy tokens of the small model and of its widened copy on every task, plus teacher-forced top-1 agreement. */
async function checkWidening(small: string, wide: string, tasks: FimTask[], maxTokens: number, threads: number): Promise<WideningCheck> {
  const a = await Engine.load({ target: small, threads });
  const b = await Engine.load({ target: wide, threads });
  const check: WideningCheck = { small: path.basename(small), wide: path.basename(wide), prompts: tasks.length, identicalGreedy: 0, teacherForcedTop1Agreement: 0, positions: 0 };
  let agree = 0;
  try {
    for (const task of tasks) {
      const ra = await a.complete({ prefix: task.prefix, suffix: task.suffix, maxTokens });
      const rb = await b.complete({ prefix: task.prefix, suffix: task.suffix, maxTokens });
      if (ra.tokens.length === rb.tokens.length && ra.tokens.every((t, i) => t === rb.tokens[i])) check.identicalGreedy++;
      else check.firstMismatch ??= `${task.name}: small ${ra.tokens.join(',')} vs wide ${rb.tokens.join(',')}`;
      const seq = [...ra.promptTokens, ...ra.tokens];
      const ea = await a.evaluate(seq);
      const eb = await b.evaluate(seq);
      for (let i = 0; i < ea.top1.length; i++) if (ea.top1[i] === eb.top1[i]) agree++;
      check.positions += ea.top1.length;
    }
  } finally {
    a.close();
    b.close();
  }
  check.teacherForcedTop1Agreement = check.positions ? agree / check.positions : 0;
  return check;
}

/** llama.cpp's own draft-model speculative decoding on the same files (greedy), against its plain decode. */
function llamaSpeculative(tools: LlamaTools, target: string, draft: string, tasks: FimTask[], threads: number, maxTokens: number, tmp: string): EndToEndResult['llamaSpeculative'] {
  const fim = (t: FimTask): string => `<|fim_prefix|>${t.prefix}<|fim_suffix|>${t.suffix}<|fim_middle|>`;
  if (tools.kind === 'node-llama-cpp') {
    const r = llamaNode<{ plainMs: number; specMs: number; tokens: number; validated: number; refuted: number; identical: number; prompts: number }>(
      tools, { mode: 'speculative', target, draft, threads, prompts: tasks.map(fim), maxTokens });
    return {
      decodeTokensPerSecond: (r.tokens * 1000) / r.specMs,
      baselineTokensPerSecond: (r.tokens * 1000) / r.plainMs,
      speedup: r.plainMs / r.specMs,
      accepted: r.validated,
      drafted: r.validated + r.refuted,
      note: `node-llama-cpp DraftSequenceTokenPredictor (up to 8 drafted tokens, greedy), same files and threads; identical output with and without the draft on ${r.identical}/${r.prompts} prompts`,
    };
  }
  if (!tools.speculative) return undefined;
  let drafted = 0;
  let accepted = 0;
  let specMs = 0;
  let plainMs = 0;
  let tokens = 0;
  for (const [i, task] of tasks.entries()) {
    const promptFile = path.join(tmp, `prompt-${i}.txt`);
    fs.writeFileSync(promptFile, fim(task));
    // This llama.cpp needs the speculation type named; without it no speculator is set up.
    const args = ['-m', target, '-md', draft, '-f', promptFile, '-n', String(maxTokens), '-t', String(threads), '-td', String(threads),
      '--temp', '0', '--top-k', '1', '-c', '1024', '--ignore-eos', '--spec-type', 'draft-simple', '--spec-draft-n-max', '8', '--spec-draft-n-min', '0'];
    const [command, commandArgs] = pinned(tools.speculative, args, threads);
    const r = spawnSync(command, commandArgs, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
    const text = `${r.stdout}${r.stderr}`;
    const enc = /encoded\s+(\d+) tokens/.exec(text);
    const dec = /decoded\s+(\d+) tokens in\s+([\d.]+) seconds/.exec(text);
    if (r.status !== 0 || !enc || !dec) throw new Error(`llama-speculative-simple failed: ${text.slice(-1500)}`);
    specMs += Number(dec[2]) * 1000;
    tokens += Number(dec[1]);
    drafted += Number(/n_drafted\s*=\s*(\d+)/.exec(text)?.[1] ?? 0);
    accepted += Number(/n_accept\s*=\s*(\d+)/.exec(text)?.[1] ?? 0);
    // Its plain decode of as many tokens after as long a prompt (speculative-simple cannot run without a draft).
    const rows = JSON.parse(run(tools.bench as string, ['-m', target, '-t', String(threads), '-r', '1', '-o', 'json', '-p', '0',
      '-n', dec[1], '-d', enc[1]], undefined, threads)) as LlamaBenchRow[];
    const tg = rows.find((row) => row.n_gen > 0);
    if (!tg) throw new Error('llama-bench gave no decode row for the speculative baseline');
    plainMs += median(tg.samples_ns) / 1e6;
  }
  return {
    decodeTokensPerSecond: (tokens * 1000) / specMs,
    baselineTokensPerSecond: (tokens * 1000) / plainMs,
    speedup: plainMs / specMs,
    accepted,
    drafted,
    note: 'llama-speculative-simple --spec-type draft-simple, greedy (--temp 0 --top-k 1), up to 8 drafted tokens (its default ' +
      'early stop), same files and threads; baseline = llama-bench decoding as many tokens after a context as long as each prompt. ' +
      'Its output is not compared with the plain run here',
  };
}

// ---- the suite ----------------------------------------------------------------------------------------------------

export const BENCH_USAGE = `  specqd bench [--quick] [--json] [--prompts DIR] [--out DIR] [--threads 1,2] [--llama-dir DIR]
               [--tmp DIR] [--target M.gguf --draft D.gguf] [--no-llama] [--keep-models]
               [--only costs|e2e] [--wide-shape 0.5b|1.5b|keep] [--e2e-threads T]
               [--rounds N] [--e2e-rounds N] [--tasks N] [--draft-vocab N]
      the benchmark suite: per-token costs on Qwen2.5-Coder-shaped models, end-to-end speculative speedups,
      llama.cpp side by side and the memory-bandwidth limit; writes report.json, report.md and charts to --out`;

export async function runBench(args: string[]): Promise<number> {
  const { options, positional } = parseArgs(args, {
    quick: { kind: 'flag' }, json: { kind: 'flag' }, prompts: { kind: 'string' }, out: { kind: 'string' },
    threads: { kind: 'string' }, 'llama-dir': { kind: 'string' }, tmp: { kind: 'string' }, target: { kind: 'string' },
    draft: { kind: 'string' }, 'no-llama': { kind: 'flag' }, 'keep-models': { kind: 'flag' },
    only: { kind: 'string' }, 'wide-shape': { kind: 'string' }, 'e2e-threads': { kind: 'int' }, rounds: { kind: 'int' },
    tasks: { kind: 'int' }, 'draft-vocab': { kind: 'int' }, 'e2e-rounds': { kind: 'int' },
  });
  const only = options.get('only');
  if (only !== undefined && only !== 'costs' && only !== 'e2e') throw new UsageError('--only must be costs or e2e');
  const wideShape = (options.get('wide-shape') as string | undefined) ?? '0.5b';
  const e2eRounds = (options.get('e2e-rounds') as number | undefined) ?? 1;
  if (e2eRounds < 1) throw new UsageError('--e2e-rounds must be at least 1');
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const quick = options.get('quick') === true;
  const cores = os.cpus().length;
  const threadList = typeof options.get('threads') === 'string'
    ? (options.get('threads') as string).split(',').map(Number).filter((n) => n > 0)
    : [...new Set([1, Math.min(cores, 8)])];
  const outDir = path.resolve((options.get('out') as string | undefined) ?? path.join(repoRoot, 'bench', 'results', quick ? 'quick' : 'full'));
  const fixtures = path.join(repoRoot, 'test', 'fixtures', 'models');
  const smallTarget = path.resolve((options.get('target') as string | undefined) ?? path.join(fixtures, 'tiny-coder.gguf'));
  const smallDraft = path.resolve((options.get('draft') as string | undefined) ?? path.join(fixtures, 'tiny-coder-draft-deep.gguf'));
  const promptDir = path.resolve((options.get('prompts') as string | undefined) ?? path.join(repoRoot, 'test', 'fixtures', 'heldout', 'files'));
  const tmp = fs.mkdtempSync(path.join((options.get('tmp') as string | undefined) ?? os.tmpdir(), 'specqd-bench-'));
  const notes: string[] = [];
  try {
    os.setPriority(5);  // be kind to the machine's other users; every figure is a ratio measured side by side
  } catch {
    notes.push('could not lower the process priority');
  }
  const started = new Date();
  const base = machineInfo();
  log(`machine: ${base.cpuModel}, ${cores} cores, load ${base.loadAverageStart.join(' ')}; results -> ${outDir}`);

  // Room for the temporary models: the largest (1.5B BF16) is 3.1 GB.
  const freeBytes = fs.statfsSync(tmp).bavail * fs.statfsSync(tmp).bsize;
  const needBytes = quick ? 2.5e9 : 8e9;
  if (freeBytes < needBytes) throw new Error(`${tmp} has ${(freeBytes / 1e9).toFixed(1)} GB free; the bench needs ${needBytes / 1e9} GB`);
  if (os.freemem() < 3e9) notes.push(`only ${(os.freemem() / 1e9).toFixed(1)} GB of memory free at the start`);

  const binaries = usePrivateBinaries(tmp);
  notes.push(`native tools and addon copied at the start from ${binaries.join(', ')}`);
  cpuPinning = chooseCpuPinning();
  notes.push(cpuPinning
    ? `single-thread measurements (ours and llama.cpp's, per-token costs and end to end) pinned to CPU ${cpuPinning.single} with taskset; multi-threaded ones unpinned`
    : 'single-thread measurements not pinned to a CPU (no taskset)');
  notes.push('weights: our engine copies them into memory on huge pages at load (its default); llama.cpp reads them ' +
    'through a memory map (its default), of files the suite rewrites once by copying after writing them, which on this ' +
    'kernel gives a map its faster page-cache layout');
  const llamaFound = options.get('no-llama') ? 'disabled with --no-llama' : findLlama(options.get('llama-dir') as string | undefined);
  const llama = typeof llamaFound === 'string' ? undefined : llamaFound;
  const llamaMissing = typeof llamaFound === 'string' ? llamaFound : '';
  if (!llama) notes.push(`llama.cpp: ${llamaMissing}`);

  const report: BenchReport = {
    command: `specqd bench ${args.join(' ')}`.trim(),
    quick,
    startedAt: started.toISOString(),
    finishedAt: '',
    machine: { ...base, kernelPath: '', loadAverageEnd: [], threadsUsed: threadList },
    bandwidth: [],
    llama: llama
      ? llama.kind === 'llama-bench'
        ? { available: true, version: llama.version, binDir: path.dirname(llama.bench as string), note: 'llama-bench (and llama-speculative-simple) built from the llama.cpp source in node-llama-cpp 3.21.1 (llama/gitRelease.bundle)' }
        : { available: true, version: llama.version, note: 'node-llama-cpp 3.21.1 through bench/llama-node.mjs (llama-bench was not built)' }
      : { available: false, note: llamaMissing },
    shapeModels: [],
    mxfp4Ratios: [],
    agreement: [],
    widening: [],
    endToEnd: [],
    notes,
  };

  try {
    // 1. bandwidth
    log('memory read bandwidth');
    report.bandwidth.push({ when: 'before the per-token costs', results: measureBandwidth(quick, threadList) });

    // 2. per-token costs on shape-realistic models
    const forwardOpts = quick
      ? { decode: 16, prefill: [128, 512], verify: [1, 2, 4, 8, 16], depth: 64, reps: 3 }
      : { decode: 32, prefill: [128, 512, 2048], verify: Array.from({ length: 16 }, (_, i) => i + 1), depth: 64, reps: 3 };
    const rounds = (options.get('rounds') as number | undefined) ?? (quick ? 1 : 3);
    const shapes = quick ? [['0.5b', 'bf16'], ['0.5b', 'f16']] : [['0.5b', 'bf16'], ['0.5b', 'f16'], ['1.5b', 'bf16']];
    const measureFile = (file: string, shape: string, type: string): ShapeModelResult => {
      const result: ShapeModelResult = { name: `Qwen2.5-Coder-${shape.toUpperCase()} shape`, shape, type: type.toUpperCase(), fileBytes: fs.statSync(file).size, bytesPerToken: 0, headBytes: 0, cells: [] };
      for (const threads of threadList) {
        const roundsOut: ShapeCell['rounds'] = [];
        for (let r = 0; r < rounds; r++) {
          log(`  ${shape} ${type} t=${threads} round ${r + 1}/${rounds}: ours`);
          const oursJson = benchForward(file, threads, forwardOpts);
          result.bytesPerToken = oursJson.bytes_per_token;
          result.headBytes = oursJson.head_bytes;
          report.machine.kernelPath = oursJson.kernel_path;
          let llamaCosts: ForwardCosts | undefined;
          if (llama) {
            log(`  ${shape} ${type} t=${threads} round ${r + 1}/${rounds}: llama.cpp`);
            try {
              llamaCosts = llamaBench(llama, file, threads, forwardOpts);
            } catch (error) {
              notes.push(`llama.cpp failed on ${path.basename(file)} t=${threads}: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`);
            }
          }
          roundsOut.push({ ours: forwardCosts(oursJson), ...(llamaCosts ? { llama: llamaCosts } : {}) });
        }
        result.cells.push(summarizeCell(threads, roundsOut, result.bytesPerToken, report.bandwidth[0].results));
      }
      return result;
    };
    for (const [shape, type] of only === 'e2e' ? [] : shapes) {
      const file = path.join(tmp, `qwen-${shape}-${type}.gguf`);
      log(`writing ${path.basename(file)} (random weights, seed fixed)`);
      run(findTool('make-bench-model'), ['random', file, '--shape', shape, '--type', type, '--tokenizer-from', smallTarget]);
      settleFile(file);
      report.shapeModels.push(measureFile(file, shape, type));
      writeOutputs(report, outDir);  // partial results survive a failure later in the run
      if (type === 'bf16') {
        // The MXFP4 copy our quantizer writes (projections and head; the embedding stays BF16), when it exists.
        const mx = path.join(tmp, `qwen-${shape}-mxfp4.gguf`);
        try {
          log(`writing ${path.basename(mx)} (specqd quantize)`);
          await convert(file, mx, { type: 'mxfp4' });
          settleFile(mx);
          report.shapeModels.push(measureFile(mx, shape, 'mxfp4'));
          writeOutputs(report, outDir);
        } catch (error) {
          notes.push(`MXFP4 per-token costs skipped: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`);
        }
        fs.rmSync(mx, { force: true });
      }
      if (!options.get('keep-models')) fs.rmSync(file, { force: true });
    }
    report.bandwidth.push({ when: 'after the per-token costs', results: measureBandwidth(quick, threadList) });
    report.mxfp4Ratios = mxfp4Ratios(report.shapeModels);
    if (only !== 'e2e') {
      for (const model of [smallTarget, smallDraft]) {
        log(`MXFP4 greedy agreement of ${path.basename(model)}`);
        try {
          report.agreement.push(measureAgreement(model, promptDir, quick, Math.max(...threadList)));
        } catch (error) {
          notes.push(`MXFP4 agreement of ${path.basename(model)} skipped: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`);
        }
      }
      writeOutputs(report, outDir);
    }

    // 3. trained models widened to the 0.5B shape, end to end
    if (only === 'costs') return finish(report, outDir, options.get('json') === true, tmp, options.get('keep-models') === true);
    const tasks = loadFimTasks(promptDir, { count: (options.get('tasks') as number | undefined) ?? (quick ? 4 : 12), seed: 20261128, prefixChars: 700, suffixChars: 200 });
    const maxTokens = quick ? 48 : 64;
    const e2eThreads = (options.get('e2e-threads') as number | undefined) ?? Math.max(...threadList);
    const mk = (args2: string[]): void => {
      run(findTool('make-bench-model'), args2);
      settleFile(args2[2]);
    };
    const smallBf16 = path.join(tmp, 'small-bf16.gguf');
    const wide = path.join(tmp, `wide-${wideShape}-bf16-vocab151936.gguf`);
    const draftPadded = path.join(tmp, 'draft-bf16-vocab151936.gguf');
    log('widening the fixture models to the 0.5B shape');
    mk(widenArgs(smallTarget, smallBf16, 'keep'));
    mk(widenArgs(smallTarget, wide, wideShape, QWEN_VOCAB));
    mk(widenArgs(smallDraft, draftPadded, 'keep', QWEN_VOCAB));
    log('checking that the widened model gives the small model\'s greedy tokens');
    report.widening.push(await checkWidening(smallBf16, wide, tasks, maxTokens, e2eThreads));
    writeOutputs(report, outDir);
    // The padded pair has the real head size; the pair with the fixtures' own vocabulary is where llama.cpp's
    // speculative decoding runs: the padded head rows tie exactly with real ones, which greedy argmax (lowest id)
    // settles, but llama.cpp's draft sampler picks its draft from a top-10 sort that may put a padded copy first —
    // measured on the padded pair: 2% of its drafts accepted. In quick mode that pair runs only the draft stack.
    const wideSmallVocab = path.join(tmp, `wide-${wideShape}-bf16-vocab4096.gguf`);
    const draftBf16 = path.join(tmp, 'draft-bf16.gguf');
    mk(widenArgs(smallTarget, wideSmallVocab, wideShape));
    mk(widenArgs(smallDraft, draftBf16, 'keep'));
    const variants: { target: string; draft: string; stacks: StackConfig[]; llama: boolean }[] = [
      { target: wide, draft: draftPadded, stacks: CONFIGS, llama: false },
      { target: wideSmallVocab, draft: draftBf16, stacks: quick ? CONFIGS.filter((c) => c.levels.join() === 'target' || c.levels.join() === 'target,draft') : CONFIGS, llama: true },
    ];
    const draftVocab = options.get('draft-vocab') as number | undefined;
    if (draftVocab !== undefined) notes.push(`end to end: drafting levels with --draft-vocab ${draftVocab}`);
    for (const v of variants) {
      if (draftVocab !== undefined) v.stacks = v.stacks.map((c) => ({ ...c, draftVocab }));
      log(`end to end: ${path.basename(v.target)} with ${path.basename(v.draft)}, t=${e2eThreads}, ${tasks.length} prompts × ${maxTokens} tokens`);
      const costs = benchForward(v.target, e2eThreads, { decode: 8, prefill: [], verify: [], depth: 16, reps: 1 });
      pinSelf(e2eThreads);
      const e2e = await endToEnd(v.target, v.draft, v.stacks, tasks, e2eThreads, maxTokens, costs, tmp, e2eRounds).finally(() => pinSelf(0));
      if (llama && v.llama) {
        try {
          e2e.llamaSpeculative = llamaSpeculative(llama, v.target, v.draft, tasks, e2eThreads, maxTokens, tmp);
        } catch (error) {
          notes.push(`llama.cpp speculative decoding failed: ${error instanceof Error ? error.message.slice(0, 400) : String(error)}`);
        }
      }
      report.endToEnd.push(e2e);
      writeOutputs(report, outDir);
    }
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return finish(report, outDir, options.get('json') === true, tmp, options.get('keep-models') === true);
}

/** Our MXFP4 decode over our BF16 decode and over llama.cpp's MXFP4 decode, per shape and thread count. */
function mxfp4Ratios(models: ShapeModelResult[]): Mxfp4Ratios[] {
  return models.filter((m) => m.type === 'MXFP4').flatMap((mx) => {
    const bf16 = models.find((m) => m.shape === mx.shape && m.type === 'BF16');
    return bf16 ? mxfp4RatiosOf(mx, bf16) : [];
  });
}

function mxfp4RatiosOf(mx: ShapeModelResult, bf16: ShapeModelResult): Mxfp4Ratios[] {
  return mx.cells.map((c) => {
    const ours = bf16.cells.find((b) => b.threads === c.threads)?.ours.decodeTokensPerSecond;
    return {
      shape: mx.shape,
      threads: c.threads,
      ...(ours ? { overOurBf16: c.ours.decodeTokensPerSecond / ours } : {}),
      ...(c.decodeRatio !== undefined ? { overLlama: c.decodeRatio } : {}),
    };
  });
}

/**
 * Teacher-forced greedy agreement of the model's MXFP4 direct cast (head cast, and head kept) with the model over
 * held-out source files: the acceptance rate the mxfp4 level will see. Whole files in name order, windows of 256.
 */
function measureAgreement(model: string, dir: string, quick: boolean, threads: number): AgreementResult {
  const files = fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile()).sort().slice(0, quick ? 16 : 64);
  if (files.length === 0) throw new Error(`no files in ${dir}`);
  const out = run(findTool('mxfp4-agreement'), [model, ...files.map((n) => path.join(dir, n)), '--window', '256', '--threads', String(threads)]);
  const j = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
    positions: number; targetBytesPerToken: number; configs: { name: string; agreement: number; bytesPerToken: number }[];
  };
  return {
    model: path.basename(model), files: files.length, positions: j.positions, targetBytesPerToken: j.targetBytesPerToken,
    configs: j.configs.map((c) => ({ name: c.name, agreement: c.agreement, bytesPerToken: c.bytesPerToken })),
  };
}

function finish(report: BenchReport, outDir: string, json: boolean, tmp: string, keepModels: boolean): number {
  if (keepModels) report.notes.push(`models kept in ${tmp}`);
  else fs.rmSync(tmp, { recursive: true, force: true });
  report.finishedAt = new Date().toISOString();
  report.machine.loadAverageEnd = os.loadavg().map((v) => +v.toFixed(2));
  writeOutputs(report, outDir);
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${renderMarkdown(report)}\nwritten to ${outDir}\n`);
  return 0;
}

function summarizeCell(threads: number, rounds: ShapeCell['rounds'], bytesPerToken: number, bandwidth: BandwidthResult[]): ShapeCell {
  const med = (pick: (c: ForwardCosts) => number, who: 'ours' | 'llama'): number =>
    median(rounds.map((r) => r[who]).filter((c): c is ForwardCosts => !!c).map(pick));
  const summarize = (who: 'ours' | 'llama'): ForwardCosts | undefined => {
    const first = rounds[0][who];
    if (!first) return undefined;
    return {
      decodeTokensPerSecond: med((c) => c.decodeTokensPerSecond, who),
      prefill: first.prefill.map((p, i) => ({ tokens: p.tokens, tokensPerSecond: med((c) => c.prefill[i].tokensPerSecond, who) })),
      verify: first.verify.map((v, i) => ({ k: v.k, ms: med((c) => c.verify[i].ms, who), ratio: med((c) => c.verify[i].ratio, who) })),
    };
  };
  const ours = summarize('ours') as ForwardCosts;
  const llama = summarize('llama');
  const bw = bandwidth.find((b) => b.threads === threads)?.medianGBps ?? NaN;
  const withLlama = rounds.filter((r) => r.llama);
  return {
    threads,
    ours,
    ...(llama ? { llama } : {}),
    ...(llama ? { decodeRatio: median(withLlama.map((r) => r.ours.decodeTokensPerSecond / (r.llama as ForwardCosts).decodeTokensPerSecond)) } : {}),
    prefillRatio: llama
      ? ours.prefill.map((p, i) => ({ tokens: p.tokens, ratio: median(withLlama.map((r) => r.ours.prefill[i].tokensPerSecond / (r.llama as ForwardCosts).prefill[i].tokensPerSecond)) }))
      : [],
    bandwidthFraction: {
      ours: (bytesPerToken * ours.decodeTokensPerSecond) / (bw * 1e9),
      ...(llama ? { llama: (bytesPerToken * llama.decodeTokensPerSecond) / (bw * 1e9) } : {}),
    },
    rounds,
  };
}

function writeOutputs(report: BenchReport, outDir: string): void {
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(path.join(outDir, 'report.md'), renderMarkdown(report));
  // Speedup per configuration (end to end).
  const groups: BarGroup[] = [];
  for (const e of report.endToEnd) {
    for (const c of e.configs.filter((x) => x.available)) {
      groups.push({ label: c.name.replace(/^target ← /, '← ').replace('target alone', 'alone'), values: [{ series: `vocab ${e.vocabRows}`, value: c.speedup }] });
    }
    if (e.llamaSpeculative) groups.push({ label: 'llama.cpp ← draft', values: [{ series: `vocab ${e.vocabRows}`, value: e.llamaSpeculative.speedup }] });
  }
  if (groups.length > 0) fs.writeFileSync(path.join(outDir, 'speedup.svg'), barChart('Decode speedup over the target alone (same tokens)', 'speedup ×', mergeGroups(groups), 1));
  // Verification cost vs k.
  const lines: LineSeries[] = [];
  for (const m of report.shapeModels) {
    for (const c of m.cells) {
      lines.push({ name: `ours ${m.shape} ${m.type} t=${c.threads}`, points: c.ours.verify.map((v) => ({ x: v.k, y: v.ratio })) });
      if (c.llama) lines.push({ name: `llama ${m.shape} ${m.type} t=${c.threads}`, points: c.llama.verify.map((v) => ({ x: v.k, y: v.ratio })) });
    }
  }
  if (lines.length > 0) fs.writeFileSync(path.join(outDir, 'verify-cost.svg'), lineChart('Cost of verifying k tokens in one pass (÷ k = 1)', 'k (tokens in the pass)', 'time ÷ time(k=1)', lines.slice(0, 7)));
  // Decode vs the bandwidth limit.
  const bw = report.bandwidth[0]?.results ?? [];
  const decodeGroups: BarGroup[] = [];
  for (const m of report.shapeModels) {
    for (const c of m.cells) {
      const limit = ((bw.find((b) => b.threads === c.threads)?.medianGBps ?? NaN) * 1e9) / m.bytesPerToken;
      decodeGroups.push({
        label: `${m.shape} ${m.type} t=${c.threads}`,
        values: [
          { series: 'ours', value: c.ours.decodeTokensPerSecond },
          ...(c.llama ? [{ series: 'llama.cpp', value: c.llama.decodeTokensPerSecond }] : []),
          { series: 'bandwidth limit', value: limit },
        ],
      });
    }
  }
  if (decodeGroups.length > 0) fs.writeFileSync(path.join(outDir, 'decode-bandwidth.svg'), barChart('Decode tokens/s vs the memory-bandwidth limit', 'tokens/s', decodeGroups));
}

function mergeGroups(groups: BarGroup[]): BarGroup[] {
  const merged = new Map<string, BarGroup>();
  for (const g of groups) {
    const m = merged.get(g.label) ?? { label: g.label, values: [] };
    m.values.push(...g.values);
    merged.set(g.label, m);
  }
  return [...merged.values()];
}
