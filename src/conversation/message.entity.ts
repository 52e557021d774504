import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type MessageDirection = 'inbound' | 'outbound';

@Entity('messages')
export class MessageEntity {
  // bigint ids come back from pg as strings; they stay strings here.
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' }) id: string;
  @Column({ name: 'conversation_id', type: 'uuid' }) conversationId: string;
  @Column({ type: 'integer' }) session: number;
  @Column({ type: 'text' }) direction: MessageDirection;
  @Column({ type: 'text', nullable: true }) text: string | null;
  @Column({ type: 'text', nullable: true }) payload: string | null;
  @Column({ name: 'inbox_message_id', type: 'text', nullable: true }) inboxMessageId: string | null;
  @Column({ type: 'jsonb', nullable: true }) trigger: Record<string, unknown> | null;
  @Column({ name: 'event_id', type: 'bigint', nullable: true }) eventId: string | null;
  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true }) sentAt: Date | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @Column({ name: 'handled_at', type: 'timestamptz', nullable: true }) handledAt: Date | null;
}
