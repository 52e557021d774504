// The `npm run eval` entry point; the command itself is in eval-command.ts, where the tests call it.
import { existsSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { evalCommand } from './eval-command.js';

if (existsSync('.env')) process.loadEnvFile('.env');
// The engine's warnings (an LLM failure, a rejected output) are in the report: keep the terminal for the summary.
Logger.overrideLogger(['error']);
process.exitCode = await evalCommand(process.argv.slice(2));
