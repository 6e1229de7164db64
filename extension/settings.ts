// The `specqd.*` settings as one typed value. Parsing is pure (the adapter passes a getter over VS Code's
// configuration), so every default, clamp and problem message is unit-tested in plain Node.
import * as os from 'node:os';
import * as path from 'node:path';

import type { EngineOptions, SpeculationLevel } from './engine';

export type LevelName = SpeculationLevel;
export const levelNames: readonly LevelName[] = ['target', 'mxfp4', 'draft', 'ngram'];

/** The MXFP4 draft copy of the target: made or found next to it ('auto'), a given file, or none. */
export type Mxfp4Setting = { kind: 'auto' } | { kind: 'off' } | { kind: 'path'; path: string };

export interface Settings {
  enabled: boolean;
  /** Per-language switches; '*' is the default for languages not named. */
  languages: Record<string, boolean>;
  targetModel: string;
  draftModel: string;
  mxfp4: Mxfp4Setting;
  levels: LevelName[];
  /** 0: the engine's default (one per core, at most 8). */
  threads: number;
  /** 0: the model's training context (the engine caps it). */
  contextLength: number;
  /** Read weights in place from a memory map instead of a copy in memory (EngineOptions.mapWeights). */
  mapWeights: boolean;
  /** Drafting levels' logits stop at this token id (EngineOptions.draftVocab); 0: the whole vocabulary. */
  draftVocab: number;
  prefixLines: number;
  suffixLines: number;
  maxTokens: number;
  maxLines: number;
  debounceMs: number;
  timeBudgetMs: number;
}

export const defaultSettings: Settings = {
  enabled: true,
  languages: { '*': true },
  targetModel: '',
  draftModel: '',
  mxfp4: { kind: 'auto' },
  levels: ['target', 'mxfp4', 'draft', 'ngram'],
  threads: 0,
  contextLength: 0,
  mapWeights: false,
  draftVocab: 100000,  // the engine's own default (EngineOptions::kDefaultDraftVocab, docs/draft-vocabulary.md)
  prefixLines: 256,
  suffixLines: 64,
  maxTokens: 128,
  maxLines: 16,
  debounceMs: 80,
  timeBudgetMs: 1500,
};

/** Reads one key under `specqd.` (e.g. `get('maxTokens')`); undefined when unset. */
export type SettingGetter = (key: string) => unknown;

export interface ParsedSettings {
  settings: Settings;
  /** One line per value that was ignored, for the log. */
  problems: string[];
}

/** Expands a leading `~` so users can write `~/models/x.gguf`. Empty stays empty. */
export function expandPath(value: string, home = os.homedir()): string {
  const trimmed = value.trim();
  if (trimmed === '~') return home;
  if (trimmed.startsWith('~/') || trimmed.startsWith('~\\')) return path.join(home, trimmed.slice(2));
  return trimmed;
}

export function parseSettings(get: SettingGetter): ParsedSettings {
  const problems: string[] = [];
  const d = defaultSettings;

  const bool = (key: string, fallback: boolean): boolean => {
    const v = get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'boolean') return v;
    problems.push(`specqd.${key}: expected true or false, got ${JSON.stringify(v)}`);
    return fallback;
  };
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const v = get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      problems.push(`specqd.${key}: expected a number, got ${JSON.stringify(v)}`);
      return fallback;
    }
    const clamped = Math.min(max, Math.max(min, Math.round(v)));
    if (clamped !== v) problems.push(`specqd.${key}: ${v} is outside ${min}..${max}; using ${clamped}`);
    return clamped;
  };
  const str = (key: string): string => {
    const v = get(key);
    if (v === undefined || v === null) return '';
    if (typeof v === 'string') return expandPath(v);
    problems.push(`specqd.${key}: expected a path, got ${JSON.stringify(v)}`);
    return '';
  };

  const languages: Record<string, boolean> = { ...d.languages };
  const rawLanguages = get('languages');
  if (rawLanguages !== undefined && rawLanguages !== null) {
    if (typeof rawLanguages === 'object' && !Array.isArray(rawLanguages)) {
      for (const [id, on] of Object.entries(rawLanguages as Record<string, unknown>)) {
        if (typeof on === 'boolean') languages[id] = on;
        else problems.push(`specqd.languages.${id}: expected true or false`);
      }
    } else {
      problems.push('specqd.languages: expected an object such as { "*": true, "markdown": false }');
    }
  }

  let mxfp4: Mxfp4Setting = d.mxfp4;
  const rawMxfp4 = get('mxfp4');
  if (typeof rawMxfp4 === 'string' && rawMxfp4.trim() !== '') {
    const v = rawMxfp4.trim();
    mxfp4 = v === 'auto' ? { kind: 'auto' } : v === 'off' ? { kind: 'off' } : { kind: 'path', path: expandPath(v) };
  } else if (rawMxfp4 !== undefined && rawMxfp4 !== null && rawMxfp4 !== '') {
    problems.push('specqd.mxfp4: expected "auto", "off" or the path of an MXFP4 GGUF');
  }

  let levels = [...d.levels];
  const rawLevels = get('levels');
  if (rawLevels !== undefined && rawLevels !== null) {
    if (Array.isArray(rawLevels)) {
      const known = rawLevels.filter((l): l is LevelName => levelNames.includes(l as LevelName));
      const unknown = rawLevels.filter((l) => !levelNames.includes(l as LevelName));
      if (unknown.length > 0) problems.push(`specqd.levels: unknown level(s) ${JSON.stringify(unknown)} ignored`);
      levels = [...new Set(known)];
      if (!levels.includes('target')) levels.unshift('target');
    } else {
      problems.push('specqd.levels: expected a list such as ["target", "mxfp4", "ngram"]');
    }
  }

  const settings: Settings = {
    enabled: bool('enabled', d.enabled),
    languages,
    targetModel: str('targetModel'),
    draftModel: str('draftModel'),
    mxfp4,
    levels,
    threads: int('threads', d.threads, 0, 256),
    contextLength: int('contextLength', d.contextLength, 0, 131072),
    mapWeights: bool('mapWeights', d.mapWeights),
    draftVocab: int('draftVocab', d.draftVocab, 0, 1 << 30),
    prefixLines: int('prefixLines', d.prefixLines, 0, 10000),
    suffixLines: int('suffixLines', d.suffixLines, 0, 10000),
    maxTokens: int('maxTokens', d.maxTokens, 1, 4096),
    maxLines: int('maxLines', d.maxLines, 1, 1000),
    debounceMs: int('debounceMs', d.debounceMs, 0, 5000),
    timeBudgetMs: int('timeBudgetMs', d.timeBudgetMs, 50, 60000),
  };
  return { settings, problems };
}

/** Whether completions are on for a language: its own switch, else the '*' switch, else on. */
export function isLanguageEnabled(settings: Settings, languageId: string): boolean {
  return settings.languages[languageId] ?? settings.languages['*'] ?? true;
}

/**
 * What Engine.load gets from the settings, or undefined when no model is configured. The levels are the configured
 * ones that can exist: "draft" only with a draft model, "mxfp4" not when it is off. The MXFP4 weights are the
 * engine's in-memory cast of the target ('auto', its default) or a given MXFP4 GGUF.
 */
export function engineOptionsFrom(settings: Settings): EngineOptions | undefined {
  if (settings.targetModel === '') return undefined;
  const levels = settings.levels.filter(
    (level) => !(level === 'draft' && settings.draftModel === '') && !(level === 'mxfp4' && settings.mxfp4.kind === 'off'),
  );
  return {
    target: settings.targetModel,
    ...(settings.threads > 0 ? { threads: settings.threads } : {}),
    ...(settings.contextLength > 0 ? { contextLength: settings.contextLength } : {}),
    ...(settings.mapWeights ? { mapWeights: true } : {}),
    ...(settings.draftVocab !== defaultSettings.draftVocab ? { draftVocab: settings.draftVocab } : {}),
    ...(settings.draftModel !== '' && levels.includes('draft') ? { draft: settings.draftModel } : {}),
    ...(settings.mxfp4.kind === 'path' && levels.includes('mxfp4') ? { mxfp4: settings.mxfp4.path } : {}),
    levels,
  };
}

/** Two option sets load the same engine exactly when their keys are equal. */
export function engineOptionsKey(options: EngineOptions | undefined): string {
  return options === undefined ? '' : JSON.stringify(options, Object.keys(options).sort());
}
