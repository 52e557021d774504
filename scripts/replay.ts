// The `npm run replay` entry point; the command itself is in replay-command.ts, where the tests call it.
import { existsSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { replayCommand } from './replay-command.js';

if (existsSync('.env')) process.loadEnvFile('.env');
// The engine's warnings (an LLM failure, a rejected output) are in the report: keep the terminal for the summary.
Logger.overrideLogger(['error']);
process.exitCode = await replayCommand(process.argv.slice(2));
