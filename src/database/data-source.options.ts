import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';

export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    // No entities: repositories speak SQL (upserts, leases, CTEs); the migrations define the schema.
    entities: [],
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    // TypeORM's loggers print a failed or slow query with its parameters, i.e. message text; errors
    // reach the caller anyway and are logged there through safeError. Leave maxQueryExecutionTime
    // unset: its slow-query log ignores `logging` and prints the parameters too.
    logging: false,
    extra: { max: poolSize, application_name: 'inbox-va-bridge' },
  };
}
