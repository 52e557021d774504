import type { AgentConfig } from '../config/agents.schema.js';
import type { MachineConfig, TimerName } from './state-machine.js';

/** How long each deadline runs once armed, in milliseconds (the VA deadline: from the oldest unanswered message). */
export type DeadlineDurations = Record<TimerName, number | undefined>;

export function durationsFor(agent: AgentConfig): DeadlineDurations {
  const t = agent.timeouts;
  return {
    vaDeadline: t.virtualAgent - t.virtualAgentMargin,
    firstQuestion: t.firstQuestion,
    contactNudge: t.contactNudge,
    contactDeadline: t.contact,
  };
}

export function machineConfig(agent: AgentConfig): MachineConfig {
  return { hasNudge: agent.timeouts.contactNudge !== undefined, onContactTimeout: agent.timeouts.onContactTimeout };
}
