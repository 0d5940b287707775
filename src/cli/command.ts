/**
 * A subcommand of `ballast`. Each lives in `src/cli/commands/<name>.ts` and is listed once, with
 * its one-line summary, in `src/cli/commands/index.ts`. `run` returns the exit code: 0 ok, 1
 * runtime failure, 2 bad usage or config.
 */
export interface Command {
  readonly name: string;
  /** Full text for `ballast NAME --help`: usage line and every flag. */
  readonly help: string;
  run(args: string[]): Promise<number>;
}

/** Bad flags or values: the CLI prints the message and the usage hint, exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses a flag value as a number within bounds, or throws a UsageError naming the flag. */
export function numberFlag(name: string, value: string | undefined, opts: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const { min = -Infinity, max = Infinity, integer = false } = opts;
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    const range = `${Number.isFinite(min) ? ` >= ${min}` : ''}${Number.isFinite(max) ? ` <= ${max}` : ''}`;
    throw new UsageError(`--${name}: expected ${integer ? 'an integer' : 'a number'}${range}, got "${value}"`);
  }
  return n;
}
