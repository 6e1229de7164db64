// The words of the status bar item and of the stats report, from the engine state and its figures. Pure.
import type { CompletionStats, EngineInfo, EngineStats, ModelInspection } from './engine';
import type { CompletionOutcome } from './completion-service';
import type { EngineState } from './engine-manager';

export interface StatusView {
  state: EngineState;
  enabled: boolean;
  generating: boolean;
  last?: CompletionOutcome;
  stats?: EngineStats;
}

export interface StatusText {
  text: string;
  tooltip: string;
  /** Which look the item takes: an error or warning background, or none. */
  severity: 'none' | 'warning' | 'error';
}

export interface LevelAcceptance {
  name: string;
  /** Accepted drafted tokens / drafted tokens, 0..1. */
  acceptance: number;
}

/** Acceptance of each level that drafted something (the target only verifies); empty without speculation. */
export function levelAcceptance(stats: EngineStats | CompletionStats | undefined): LevelAcceptance[] {
  return (stats?.levels ?? [])
    .filter((level) => level.name !== 'target' && level.proposed > 0 && Number.isFinite(level.acceptance))
    .map((level) => ({ name: level.name, acceptance: level.acceptance }));
}

function fixed(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** `42 tok/s · 120 ms` plus `mxfp4 81%` per level when known. */
export function throughputText(last: CompletionOutcome | undefined): string {
  if (!last) return 'ready';
  const parts: string[] = [];
  const stats = last.result?.stats;
  if (stats && stats.generatedTokens > 0) parts.push(`${fixed(stats.decodeTokensPerSecond)} tok/s`);
  for (const level of levelAcceptance(stats)) parts.push(`${level.name} ${fixed(level.acceptance * 100)}%`);
  parts.push(last.fromCache ? `${last.latencyMs} ms (cache)` : `${last.latencyMs} ms`);
  return parts.join(' · ');
}

export function statusText(view: StatusView): StatusText {
  const { state } = view;
  if (!view.enabled) {
    return { text: '$(circle-slash) SpecQD: off', tooltip: 'SpecQD completions are off. Click for engine stats.', severity: 'none' };
  }
  switch (state.kind) {
    case 'no-model':
      return {
        text: '$(circle-outline) SpecQD: no model',
        tooltip: 'No model is set. Run "SpecQD: Select Model File" or "SpecQD: Download Recommended Model".',
        severity: 'warning',
      };
    case 'loading':
      return { text: '$(loading~spin) SpecQD: loading', tooltip: `Loading ${state.target}`, severity: 'none' };
    case 'error':
      return { text: '$(error) SpecQD: error', tooltip: state.problem.message, severity: 'error' };
    case 'ready': {
      const icon = view.generating ? '$(sync~spin)' : '$(zap)';
      return {
        text: `${icon} SpecQD ${throughputText(view.last)}`,
        tooltip: `${state.target}\nClick for engine stats.`,
        severity: 'none',
      };
    }
  }
}

export interface StatsReportInput {
  state: EngineState;
  enabled: boolean;
  info?: EngineInfo;
  inspection?: ModelInspection;
  stats?: EngineStats;
  last?: CompletionOutcome;
  cacheEntries: number;
  addonPath?: string;
}

/** The "Show Engine Stats" document: plain text, one figure a line. */
export function statsReport(input: StatsReportInput): string {
  const lines: string[] = ['SpecQD engine stats', ''];
  lines.push(`completions  ${input.enabled ? 'on' : 'off'}`);
  lines.push(`state        ${input.state.kind}${'target' in input.state ? ` (${input.state.target})` : ''}`);
  if (input.state.kind === 'error') lines.push(`problem      ${input.state.problem.message}`);
  if (input.addonPath) lines.push(`addon        ${input.addonPath}`);
  if (input.info) {
    const i = input.info;
    lines.push(`model        ${i.architecture}, context ${i.contextLength}, ${i.threads} threads, FIM ${i.fim ? 'yes' : 'no'}`);
    lines.push(`kernels      ${i.kernelPath}`);
    lines.push(`levels       ${i.levels.join(' > ')}`);
  }
  if (input.inspection) {
    const m = input.inspection;
    const types = m.tensorTypes.map((t) => `${t.type}×${t.count}`).join(' ');
    lines.push(`weights      ${(m.parameters / 1e6).toFixed(1)}M parameters, ${types}`);
  }
  const s = input.stats;
  if (s) {
    lines.push('');
    lines.push(`requests     ${s.requests} (${s.cancelled} cancelled)`);
    lines.push(`prompt       ${s.promptTokens} tokens (${s.reusedTokens} reused from the KV cache), ${fixed(s.prefillTokensPerSecond)} tok/s`);
    lines.push(`generated    ${s.generatedTokens} tokens, ${fixed(s.decodeTokensPerSecond)} tok/s`);
    lines.push(`time         prefill ${fixed(s.prefillMs)} ms, decode ${fixed(s.decodeMs)} ms`);
    const levels = levelAcceptance(s);
    if (levels.length > 0) {
      lines.push(`acceptance   ${levels.map((l) => `${l.name} ${fixed(l.acceptance * 100)}%`).join(', ')}`);
    }
  }
  if (input.last) {
    const l = input.last;
    lines.push('');
    lines.push(`last         ${l.latencyMs} ms to ghost text${l.fromCache ? ' (from cache)' : ''}`);
    const st = l.result?.stats;
    if (st) {
      lines.push(
        `             prompt ${st.promptTokens} (${st.reusedTokens} reused), prefill ${fixed(st.prefillMs, 1)} ms, ` +
          `${st.generatedTokens} generated in ${fixed(st.decodeMs, 1)} ms (${fixed(st.decodeTokensPerSecond)} tok/s), ` +
          `stop ${l.result?.stopReason ?? '?'}`,
      );
    }
  }
  lines.push(`cache        ${input.cacheEntries} completions`);
  return lines.join('\n') + '\n';
}
