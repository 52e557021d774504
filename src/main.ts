import { existsSync } from 'node:fs';
import { AppConfig } from './config/app-config.js';
import { ConfigError } from './config/config.error.js';
import { createApp } from './bootstrap.js';

if (existsSync('.env')) process.loadEnvFile('.env');

let config: AppConfig;
try {
  config = AppConfig.load(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(78); // EX_CONFIG
}

const app = await createApp(config);
await app.listen(config.env.PORT);
