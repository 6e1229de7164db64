// A small, strict command-line parser: known options only, values checked, clear messages. Pure; unit-tested.

export interface OptionSpec {
  /** 'flag' takes no value; 'string' and 'int' take the next argument. */
  kind: 'flag' | 'string' | 'int';
}

export interface ParsedArgs {
  options: Map<string, string | number | boolean>;
  positional: string[];
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseArgs(args: string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const options = new Map<string, string | number | boolean>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const name = arg.slice(2);
    const option = spec[name];
    if (!option) throw new UsageError(`unknown option ${arg}`);
    if (option.kind === 'flag') {
      options.set(name, true);
      continue;
    }
    const value = args[i + 1];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    i++;
    if (option.kind === 'int') {
      if (!/^-?\d+$/.test(value)) throw new UsageError(`${arg} must be an integer, got '${value}'`);
      options.set(name, Number(value));
    } else {
      options.set(name, value);
    }
  }
  return { options, positional };
}
