// `npm run migration:run`: what the service does at boot, for operators who migrate before a deploy.
import { DataSource } from 'typeorm';
import { DEFAULT_DATABASE_URL } from '../config/env.schema.js';
import { dataSourceOptions } from './data-source.options.js';
import { runMigrationsLocked } from './migrate.js';

try {
  const dataSource = await new DataSource(dataSourceOptions(process.env.DATABASE_URL || DEFAULT_DATABASE_URL)).initialize();
  const applied = await runMigrationsLocked(dataSource);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  await dataSource.destroy();
} catch (err) {
  console.error(`migration failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
