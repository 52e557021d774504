export type ConversationMode = 'inception' | 'delegation';
export type ConversationState = 'active' | 'handed_over' | 'resolved' | 'lost';

export interface ContactAttribute {
  attribute: string;
  value: string;
  source?: string;
}
