/** Every subcommand, in the order `ballast --help` lists them. */
import type { Command } from '../command.js';
import { backendCommand } from './backend.js';
import { demoCommand } from './demo.js';
import { startCommand } from './start.js';
import { loadtestCommand } from './loadtest.js';
import { stresstestCommand } from './stresstest.js';
import { simulateCommand } from './simulate.js';
import { benchCommand } from './bench.js';
import { fleetCommand } from './fleet.js';

export const commands: Command[] = [startCommand, demoCommand, backendCommand, loadtestCommand, stresstestCommand, simulateCommand, benchCommand, fleetCommand];
