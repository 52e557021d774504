// The `npm run eval` entry point; the command itself is in eval-command.ts, where the tests call it.
import { existsSync } from 'node:fs';
import { evalCommand } from './eval-command.js';

if (existsSync('.env')) process.loadEnvFile('.env');
process.exitCode = await evalCommand(process.argv.slice(2));
