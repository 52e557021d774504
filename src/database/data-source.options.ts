import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';

/**
 * `queryTimeoutMs`: how long a query may go unanswered before it fails. Without it, a connection
 * whose server vanished silently (a failover, a dropped route) leaves the query waiting for ever:
 * a timer job stuck `active`, and a shutdown that never ends. The operator's migration command runs
 * without one, since a migration on a large table may rightly take long.
 */
export function dataSourceOptions(url: string, poolSize = 10, queryTimeoutMs?: number): DataSourceOptions {
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
    connectTimeoutMS: 10_000,
    extra: {
      max: poolSize,
      application_name: 'inbox-va-bridge',
      // Notices a dead peer on an idle connection; the query timeout covers a busy one.
      keepAlive: true,
      ...(queryTimeoutMs ? { query_timeout: queryTimeoutMs } : {}),
    },
  };
}
