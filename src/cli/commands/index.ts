/** Every subcommand, in the order `ballast --help` lists them. */
import type { Command } from '../command.js';
import { backendCommand } from './backend.js';

export const commands: Command[] = [backendCommand];
