import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { ConversationEntity } from '../conversation/conversation.entity.js';
import { MessageEntity } from '../conversation/message.entity.js';
import { WebhookEventEntity } from '../webhook/webhook-event.entity.js';

export const ENTITIES = [ConversationEntity, MessageEntity, WebhookEventEntity];

export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    extra: { max: poolSize, application_name: 'inbox-va-bridge' },
  };
}
