// The TypeORM CLI's entry (`npx typeorm migration:show -d dist/src/database/data-source.js`).
import { DataSource } from 'typeorm';
import { DEFAULT_DATABASE_URL } from '../config/env.schema.js';
import { dataSourceOptions } from './data-source.options.js';

export default new DataSource(
  dataSourceOptions(process.env.DATABASE_URL || DEFAULT_DATABASE_URL),
);
