import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { ConversationEntity } from '../conversation/conversation.entity.js';
import { MessageEntity } from '../conversation/message.entity.js';
import { WebhookEventEntity } from '../webhook/webhook-event.entity.js';

export const ENTITIES = [ConversationEntity, MessageEntity, WebhookEventEntity];

export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    extra: { max: Number(process.env.DATABASE_POOL_SIZE ?? 10), application_name: 'inbox-va-bridge' },
  };
}
