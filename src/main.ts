import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { AppConfig } from './config/app-config.js';
import { ConfigError } from './config/config.error.js';
import { createApp } from './bootstrap.js';

// The real environment wins over .env, at start and at every reload of the agents file (which reads
// .env again, so a rotated secret there takes effect on SIGHUP).
const outer = { ...process.env };
const dotEnv = () => (existsSync('.env') ? parseEnv(readFileSync('.env', 'utf8')) : {});
if (existsSync('.env')) process.loadEnvFile('.env');

let config: AppConfig;
try {
  config = AppConfig.load(process.env, () => ({ ...dotEnv(), ...outer }));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(78); // EX_CONFIG
}

const app = await createApp(config);
await app.listen(config.env.PORT);
