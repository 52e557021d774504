import { InitialSchema1764000000000 } from './1764000000000-InitialSchema.js';
import { Decisions1764000000001 } from './1764000000001-Decisions.js';
import { Orchestration1764000000002 } from './1764000000002-Orchestration.js';
import { Hardening1764000000003 } from './1764000000003-Hardening.js';
import { DecisionContext1764000000004 } from './1764000000004-DecisionContext.js';
import { Knowledge1764000000005 } from './1764000000005-Knowledge.js';
import { ActionCalls1764000000006 } from './1764000000006-ActionCalls.js';
import { SessionOutcomes1764000000007 } from './1764000000007-SessionOutcomes.js';
import { Budgets1764000000008 } from './1764000000008-Budgets.js';
import { Retention1764000000009 } from './1764000000009-Retention.js';

/** Every migration, oldest first. Listed explicitly so ESM builds and jest load the same set. */
export const MIGRATIONS = [InitialSchema1764000000000, Decisions1764000000001, Orchestration1764000000002, Hardening1764000000003, DecisionContext1764000000004, Knowledge1764000000005, ActionCalls1764000000006, SessionOutcomes1764000000007, Budgets1764000000008, Retention1764000000009];
