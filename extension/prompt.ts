// Builds the text the engine completes from a document and a cursor: the lines before the cursor (prefix) and
// after it (suffix), cut to line budgets and to a character budget derived from the model's context. Prompts are
// built in characters and lines here; the engine tokenizes them and wraps them in the model's own FIM template
// (found from its tokens), or, for a model without FIM tokens, completes the prefix as a plain prompt.

/** The part of a document the prompt builder reads; a VS Code TextDocument adapts to it in one line. */
export interface DocumentLines {
  readonly lineCount: number;
  lineText(line: number): string;
}

export interface CursorPosition {
  line: number;
  character: number;
}

export interface PromptBudget {
  /** Whole lines before the cursor's line. */
  prefixLines: number;
  /** Whole lines after the cursor's line. */
  suffixLines: number;
  /** Characters of prefix at most (the nearest text is kept). */
  prefixChars: number;
  /** Characters of suffix at most (the nearest text is kept). */
  suffixChars: number;
}

export interface BuiltPrompt {
  /** Document text before the cursor, within the budget. */
  prefix: string;
  /** Document text after the cursor, within the budget. */
  suffix: string;
  /** The cursor's line up to the cursor. */
  linePrefix: string;
  /** The cursor's line after the cursor. */
  lineSuffix: string;
  /** Up to `nextLineCount` lines after the cursor's line, for post-processing. */
  nextLines: string[];
}

/** A rough lower bound on characters per token for code, so a character budget rarely overflows the context. */
export const charsPerToken = 3;

/**
 * The character budgets for a context of `contextLength` tokens that must also hold `maxTokens` generated tokens
 * and a few template tokens: three quarters to the prefix, one quarter to the suffix.
 */
export function promptBudget(
  contextLength: number,
  maxTokens: number,
  lines: { prefixLines: number; suffixLines: number },
): PromptBudget {
  const promptTokens = Math.max(16, contextLength - maxTokens - 8);
  const chars = promptTokens * charsPerToken;
  return {
    prefixLines: lines.prefixLines,
    suffixLines: lines.suffixLines,
    prefixChars: Math.floor(chars * 0.75),
    suffixChars: Math.floor(chars * 0.25),
  };
}

export function buildPrompt(doc: DocumentLines, cursor: CursorPosition, budget: PromptBudget, nextLineCount = 8): BuiltPrompt {
  const lineCount = doc.lineCount;
  const cursorLine = Math.min(Math.max(0, cursor.line), Math.max(0, lineCount - 1));
  const current = lineCount > 0 ? doc.lineText(cursorLine) : '';
  const column = Math.min(Math.max(0, cursor.character), current.length);
  const linePrefix = current.slice(0, column);
  const lineSuffix = current.slice(column);

  // Prefix: the cursor's line up to the cursor, then whole lines upward while both budgets allow.
  let prefix = linePrefix;
  const firstLine = Math.max(0, cursorLine - budget.prefixLines);
  for (let line = cursorLine - 1; line >= firstLine; line--) {
    const candidate = doc.lineText(line) + '\n' + prefix;
    if (candidate.length > budget.prefixChars) break;
    prefix = candidate;
  }
  if (prefix.length > budget.prefixChars) prefix = prefix.slice(prefix.length - budget.prefixChars);

  // Suffix: the rest of the cursor's line, then whole lines downward while both budgets allow.
  let suffix = lineSuffix;
  const lastLine = Math.min(lineCount - 1, cursorLine + budget.suffixLines);
  for (let line = cursorLine + 1; line <= lastLine; line++) {
    const candidate = suffix + '\n' + doc.lineText(line);
    if (candidate.length > budget.suffixChars) break;
    suffix = candidate;
  }
  if (suffix.length > budget.suffixChars) suffix = suffix.slice(0, budget.suffixChars);

  const nextLines: string[] = [];
  for (let line = cursorLine + 1; line < lineCount && nextLines.length < nextLineCount; line++) {
    nextLines.push(doc.lineText(line));
  }
  return { prefix, suffix, linePrefix, lineSuffix, nextLines };
}

/** Lines as VS Code and the engine see them: `\r\n` and `\r` become `\n`. */
export function textLines(text: string): DocumentLines {
  const lines = text.split(/\r\n|\r|\n/);
  return { lineCount: lines.length, lineText: (line) => lines[line] ?? '' };
}
