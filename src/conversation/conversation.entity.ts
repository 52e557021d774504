import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type ConversationMode = 'inception' | 'delegation';
export type ConversationState = 'active' | 'handed_over' | 'resolved' | 'lost';

export interface ContactAttribute {
  attribute: string;
  value: string;
  source?: string;
}

@Entity('conversations')
export class ConversationEntity {
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column({ name: 'agent_id' }) agentId: string;
  @Column({ name: 'inbox_conversation_id' }) inboxConversationId: string;
  @Column({ type: 'text' }) mode: ConversationMode;
  @Column({ type: 'text' }) state: ConversationState;
  @Column({ name: 'state_reason', type: 'text', nullable: true }) stateReason: string | null;
  @Column({ name: 'state_changed_at', type: 'timestamptz' }) stateChangedAt: Date;
  @Column({ type: 'integer' }) session: number;
  @Column({ name: 'session_started_at', type: 'timestamptz' }) sessionStartedAt: Date;
  @Column({ name: 'contact_profile', type: 'jsonb', nullable: true }) contactProfile: Record<string, unknown> | null;
  @Column({ name: 'contact_attributes', type: 'jsonb' }) contactAttributes: ContactAttribute[];
  @Column({ type: 'text', nullable: true }) language: string | null;
  @Column({ type: 'jsonb', nullable: true }) channel: Record<string, unknown> | null;
  @Column({ type: 'jsonb', nullable: true }) medium: Record<string, unknown> | null;
  @Column({ type: 'jsonb' }) topics: string[];
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt: Date;
}
