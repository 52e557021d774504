// The `npm run kb` entry point; the command itself is in kb-command.ts, where the tests call it.
import { existsSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { kbCommand } from './kb-command.js';

if (existsSync('.env')) process.loadEnvFile('.env');
Logger.overrideLogger(['error']);
process.exitCode = await kbCommand(process.argv.slice(2));
