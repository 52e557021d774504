// The `npm run replay` entry point; the command itself is in replay-command.ts, where the tests call it.
import { existsSync } from 'node:fs';
import { replayCommand } from './replay-command.js';

if (existsSync('.env')) process.loadEnvFile('.env');
process.exitCode = await replayCommand(process.argv.slice(2));
