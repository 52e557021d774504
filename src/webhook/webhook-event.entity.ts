import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('webhook_events')
export class WebhookEventEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' }) id: string;
  @Column({ name: 'agent_id' }) agentId: string;
  @Column({ name: 'idempotency_key' }) idempotencyKey: string;
  @Column() type: string;
  @Column({ type: 'integer', nullable: true }) version: number | null;
  @Column({ name: 'inbox_conversation_id', type: 'text', nullable: true }) inboxConversationId: string | null;
  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true }) sentAt: Date | null;
  @Column({ name: 'received_at', type: 'timestamptz' }) receivedAt: Date;
  @Column({ type: 'jsonb' }) payload: unknown;
}
