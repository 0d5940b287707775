/**
 * The config error on its own, without the schema: the CLI's dispatcher tells it apart from
 * other failures without loading zod and the whole schema for commands that never read a config.
 */

/** A config problem a user must fix; the CLI prints `message` and exits 2, no stack trace. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
