// specqd.* parsing: defaults, clamps, problem lines, language switches and what reaches Engine.load.
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  defaultSettings,
  engineOptionsFrom,
  engineOptionsKey,
  expandPath,
  isLanguageEnabled,
  parseSettings,
} from '../../extension/settings';

const from = (values: Record<string, unknown>) => parseSettings((key) => values[key]);

describe('settings', () => {
  it('gives the defaults when nothing is set, with no problems', () => {
    const { settings, problems } = from({});
    assert.deepEqual(settings, defaultSettings);
    assert.deepEqual(problems, []);
  });

  it('reads every key', () => {
    const { settings, problems } = from({
      enabled: false, languages: { markdown: false }, targetModel: '/m/t.gguf', draftModel: '/m/d.gguf', mxfp4: 'off',
      levels: ['target', 'ngram'], threads: 4, contextLength: 2048, mapWeights: true, draftVocab: 0, prefixLines: 100, suffixLines: 10, maxTokens: 64,
      maxLines: 5, debounceMs: 0, timeBudgetMs: 300,
    });
    assert.deepEqual(problems, []);
    assert.equal(settings.enabled, false);
    assert.deepEqual(settings.languages, { '*': true, markdown: false });
    assert.equal(settings.targetModel, '/m/t.gguf');
    assert.equal(settings.draftModel, '/m/d.gguf');
    assert.deepEqual(settings.mxfp4, { kind: 'off' });
    assert.deepEqual(settings.levels, ['target', 'ngram']);
    assert.equal(settings.threads, 4);
    assert.equal(settings.contextLength, 2048);
    assert.equal(settings.mapWeights, true);
    assert.equal(settings.draftVocab, 0);
    assert.equal(settings.prefixLines, 100);
    assert.equal(settings.suffixLines, 10);
    assert.equal(settings.maxTokens, 64);
    assert.equal(settings.maxLines, 5);
    assert.equal(settings.debounceMs, 0);
    assert.equal(settings.timeBudgetMs, 300);
  });

  it('clamps numbers out of range and says so', () => {
    const { settings, problems } = from({ maxTokens: 0, threads: 1000, debounceMs: 12.6 });
    assert.equal(settings.maxTokens, 1);
    assert.equal(settings.threads, 256);
    assert.equal(settings.debounceMs, 13);
    assert.equal(problems.length, 3);
    assert.match(problems[0] ?? '', /specqd\.threads|specqd\.maxTokens|specqd\.debounceMs/);
  });

  it('ignores values of the wrong type and says so', () => {
    const { settings, problems } = from({ enabled: 'yes', maxTokens: '12', languages: ['python'], levels: 'ngram', targetModel: 3 });
    assert.equal(settings.enabled, true);
    assert.equal(settings.maxTokens, defaultSettings.maxTokens);
    assert.deepEqual(settings.languages, { '*': true });
    assert.deepEqual(settings.levels, defaultSettings.levels);
    assert.equal(settings.targetModel, '');
    assert.equal(problems.length, 5);
  });

  it('parses the MXFP4 choice: auto, off or a path (with ~ expanded)', () => {
    assert.deepEqual(from({ mxfp4: 'auto' }).settings.mxfp4, { kind: 'auto' });
    assert.deepEqual(from({ mxfp4: '' }).settings.mxfp4, { kind: 'auto' });
    assert.deepEqual(from({ mxfp4: '~/m.mxfp4.gguf' }).settings.mxfp4, { kind: 'path', path: path.join(os.homedir(), 'm.mxfp4.gguf') });
  });

  it('keeps known levels once, always with the target, and reports unknown ones', () => {
    const { settings, problems } = from({ levels: ['ngram', 'mxfp4', 'ngram', 'warp'] });
    assert.deepEqual(settings.levels, ['target', 'ngram', 'mxfp4']);
    assert.equal(problems.length, 1);
  });

  it('expands ~ in model paths', () => {
    assert.equal(expandPath('~/x.gguf', '/home/u'), path.join('/home/u', 'x.gguf'));
    assert.equal(expandPath('  /a/b.gguf '), '/a/b.gguf');
    assert.equal(expandPath(''), '');
  });

  it('switches languages by id, then by "*"', () => {
    const { settings } = from({ languages: { '*': false, python: true } });
    assert.equal(isLanguageEnabled(settings, 'python'), true);
    assert.equal(isLanguageEnabled(settings, 'markdown'), false);
    assert.equal(isLanguageEnabled(defaultSettings, 'anything'), true);
  });

  it('passes the model options to the engine, and keys equal options equally', () => {
    assert.equal(engineOptionsFrom(defaultSettings), undefined);
    const a = engineOptionsFrom(from({ targetModel: '/m.gguf', threads: 2 }).settings);
    assert.deepEqual(a, { target: '/m.gguf', threads: 2, levels: ['target', 'mxfp4', 'ngram'] });
    const b = engineOptionsFrom(from({ targetModel: '/m.gguf', threads: 2, maxTokens: 5, debounceMs: 1 }).settings);
    assert.equal(engineOptionsKey(a), engineOptionsKey(b));
    const c = engineOptionsFrom(from({ targetModel: '/m.gguf', threads: 3 }).settings);
    assert.notEqual(engineOptionsKey(a), engineOptionsKey(c));
    const mapped = engineOptionsFrom(from({ targetModel: '/m.gguf', threads: 2, mapWeights: true }).settings);
    assert.deepEqual(mapped, { ...a, mapWeights: true });
    assert.notEqual(engineOptionsKey(a), engineOptionsKey(mapped));
    // The draft vocabulary goes to the engine when it is not the engine's default.
    assert.deepEqual(engineOptionsFrom(from({ targetModel: '/m.gguf', threads: 2, draftVocab: 100000 }).settings), a);
    const whole = engineOptionsFrom(from({ targetModel: '/m.gguf', threads: 2, draftVocab: 0 }).settings);
    assert.deepEqual(whole, { ...a, draftVocab: 0 });
    assert.notEqual(engineOptionsKey(a), engineOptionsKey(whole));
    assert.equal(engineOptionsKey(undefined), '');
  });

  it('keeps the draft level only with a draft model, and the MXFP4 level only when not off', () => {
    const withDraft = engineOptionsFrom(from({ targetModel: '/m.gguf', draftModel: '/d.gguf', mxfp4: 'off' }).settings);
    assert.deepEqual(withDraft, { target: '/m.gguf', draft: '/d.gguf', levels: ['target', 'draft', 'ngram'] });
    const noDraftLevel = engineOptionsFrom(from({ targetModel: '/m.gguf', draftModel: '/d.gguf', levels: ['target', 'ngram'] }).settings);
    assert.deepEqual(noDraftLevel, { target: '/m.gguf', levels: ['target', 'ngram'] });
    const mxfp4File = engineOptionsFrom(from({ targetModel: '/m.gguf', mxfp4: '/m.mxfp4.gguf' }).settings);
    assert.deepEqual(mxfp4File, { target: '/m.gguf', mxfp4: '/m.mxfp4.gguf', levels: ['target', 'mxfp4', 'ngram'] });
  });
});
