/** Every subcommand, in the order `ballast --help` lists them. */
import type { Command } from '../command.js';

export const commands: Command[] = [];
