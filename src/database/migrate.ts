import type { DataSource } from 'typeorm';

/** Any constant shared by every replica; one of them migrates, the others wait for it. */
const MIGRATION_LOCK = 7_420_150_001;

/** Runs pending migrations under a Postgres advisory lock, so replicas booting together migrate once. */
export async function runMigrationsLocked(dataSource: DataSource): Promise<string[]> {
  const lock = dataSource.createQueryRunner();
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.release();
  }
}
