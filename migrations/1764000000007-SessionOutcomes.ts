import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per ended conversation session: how it ended (resolved, confirmed by the contact or
 * assumed after the contact timeout; handed over, with one reason from a fixed taxonomy; lost to a
 * human), with the agent's turns, its first-reply latency and its tokens. Written in the transaction
 * that ends the session; the console's overview counts from it. The reason is decided where the
 * ending call is planned, so each outbox call that completes a conversation carries it
 * (`actions.end_reason`), and the transaction that records its delivery names it to the trigger.
 * A trigger, not application code, writes the row: every path that ends a session (a delivered
 * call, a 404, an opening event that starts a new session over an active one) goes through an
 * UPDATE of `conversations`, including intake's single compiled statement.
 * `session_outcome_view` adds whether the conversation came back to the agent within 7 days.
 */
/** The handover reasons (src/agent/handover-reasons.ts), frozen here as this migration wrote them. */
const REASONS = [
  'customer_request', 'missing_knowledge', 'unsupported_request', 'policy_restriction', 'low_confidence', 'tool_failure',
  'llm_failure', 'va_deadline', 'contact_timeout', 'usage_limit', 'outside_hours',
].map((r) => `'${r}'`).join(', ');

export class SessionOutcomes1764000000007 implements MigrationInterface {
  name = 'SessionOutcomes1764000000007';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE decisions ADD COLUMN handover_reason text`);
    await db.query(`ALTER TABLE actions ADD COLUMN end_reason text`);
    await db.query(`
      CREATE TABLE session_outcomes (
        conversation_id    uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        session            integer NOT NULL,
        agent_id           text NOT NULL,
        mode               text NOT NULL,
        started_at         timestamptz NOT NULL,
        ended_at           timestamptz NOT NULL DEFAULT now(),
        outcome            text NOT NULL,
        resolution         text,
        reason             text,
        agent_turns        integer NOT NULL,
        first_reply_ms     bigint,
        llm_calls          integer NOT NULL DEFAULT 0,
        prompt_tokens      bigint NOT NULL DEFAULT 0,
        completion_tokens  bigint NOT NULL DEFAULT 0,
        cached_tokens      bigint NOT NULL DEFAULT 0,
        models             jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (conversation_id, session),
        CONSTRAINT session_outcomes_outcome CHECK (outcome IN ('resolved', 'handed_over', 'handed_back', 'lost')),
        CONSTRAINT session_outcomes_resolution CHECK ((outcome = 'resolved') = (resolution IS NOT NULL) AND resolution IN ('confirmed', 'assumed')),
        CONSTRAINT session_outcomes_reason CHECK (reason IS NULL OR reason IN (${REASONS}))
      )`);
    await db.query(`CREATE INDEX session_outcomes_agent_ended ON session_outcomes (agent_id, ended_at)`);
    await db.query(`CREATE INDEX session_outcomes_ended ON session_outcomes (ended_at)`);
    // What the console's windows read; all insert-only columns, so updates stay HOT.
    await db.query(`CREATE INDEX decisions_created ON decisions (created_at)`);
    await db.query(`CREATE INDEX webhook_events_received ON webhook_events (received_at)`);
    await db.query(`CREATE INDEX action_calls_created ON action_calls (created_at)`);
    // An outcome the trigger could not write: the conversation's change goes on, and this says so.
    await db.query(`
      CREATE TABLE session_outcome_failures (
        conversation_id  uuid NOT NULL,
        session          integer NOT NULL,
        error            text NOT NULL,
        failed_at        timestamptz NOT NULL DEFAULT now()
      )`);
    // iva.session_ending (transaction-local, set by ConversationRepository.apply) names why: a
    // resolution (confirmed, assumed) or a handover reason. A session ended without one (a 404, or
    // superseded by a new opening event while active: someone else had it) is "lost".
    await db.query(`
      CREATE FUNCTION record_session_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        ending  text := nullif(current_setting('iva.session_ending', true), '');
        outcome text;
      BEGIN
        IF NEW.state = 'active' AND NEW.session = OLD.session THEN
          RETURN NEW;
        END IF;
        -- A Delegation agent handing back without a reason has done its task: not a failure to count.
        outcome := CASE WHEN NEW.session <> OLD.session OR NEW.state = 'active' THEN 'lost'
                        WHEN NEW.state = 'handed_over' AND OLD.mode = 'delegation' AND ending IS NULL THEN 'handed_back'
                        ELSE NEW.state END;
        INSERT INTO session_outcomes (conversation_id, session, agent_id, mode, started_at, ended_at, outcome, resolution, reason,
                                      agent_turns, first_reply_ms, llm_calls, prompt_tokens, completion_tokens, cached_tokens, models)
        SELECT OLD.id, OLD.session, OLD.agent_id, OLD.mode, OLD.session_started_at, now(), outcome,
               CASE WHEN outcome = 'resolved' THEN CASE WHEN ending = 'assumed' THEN 'assumed' ELSE 'confirmed' END END,
               CASE WHEN outcome = 'handed_over' AND ending = ANY (ARRAY[${REASONS}]) THEN ending END,
               OLD.agent_turns,
               (SELECT greatest(0, round(extract(epoch FROM
                         min(m.created_at) FILTER (WHERE m.direction = 'outbound')
                         - CASE WHEN OLD.mode = 'delegation' THEN OLD.session_started_at
                                ELSE coalesce(min(m.created_at) FILTER (WHERE m.direction = 'inbound'), OLD.session_started_at) END) * 1000))
                  FROM messages m WHERE m.conversation_id = OLD.id AND m.session = OLD.session),
               coalesce(sum(d.attempts), 0), coalesce(sum(d.prompt_tokens), 0), coalesce(sum(d.completion_tokens), 0), coalesce(sum(d.cached_tokens), 0),
               coalesce((SELECT jsonb_object_agg(model, jsonb_build_object('prompt', p, 'completion', c, 'cached', k))
                           FROM (SELECT model, sum(prompt_tokens) AS p, sum(completion_tokens) AS c, sum(cached_tokens) AS k
                                   FROM decisions WHERE conversation_id = OLD.id AND session = OLD.session GROUP BY model) per_model), '{}')
          FROM decisions d WHERE d.conversation_id = OLD.id AND d.session = OLD.session
        ON CONFLICT (conversation_id, session) DO NOTHING;
        RETURN NEW;
      EXCEPTION WHEN OTHERS THEN
        -- The outcome is a report; the conversation's own change must never fail because of it. The
        -- failure is kept where an operator (and the console's overview) can see it.
        INSERT INTO session_outcome_failures (conversation_id, session, error) VALUES (OLD.id, OLD.session, left(SQLERRM, 500));
        RETURN NEW;
      END $$`);
    await db.query(`
      CREATE TRIGGER conversations_session_outcome AFTER UPDATE OF state, session ON conversations
        FOR EACH ROW WHEN (OLD.state = 'active') EXECUTE FUNCTION record_session_outcome()`);
    // Reopened: the next session of the same conversation started within 7 days of this one's end
    // (it is either ended too, in this table, or the conversation's current one).
    await db.query(`
      CREATE VIEW session_outcome_view AS
      SELECT o.*,
             COALESCE(
               (SELECT n.started_at FROM session_outcomes n WHERE n.conversation_id = o.conversation_id AND n.session = o.session + 1),
               (SELECT c.session_started_at FROM conversations c WHERE c.id = o.conversation_id AND c.session = o.session + 1)
             ) <= o.ended_at + interval '7 days' IS TRUE AS reopened
        FROM session_outcomes o`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP VIEW session_outcome_view`);
    await db.query(`DROP TRIGGER conversations_session_outcome ON conversations`);
    await db.query(`DROP FUNCTION record_session_outcome()`);
    await db.query(`DROP TABLE session_outcome_failures`);
    await db.query(`DROP TABLE session_outcomes`);
    await db.query(`DROP INDEX decisions_created`);
    await db.query(`DROP INDEX webhook_events_received`);
    await db.query(`DROP INDEX action_calls_created`);
    await db.query(`ALTER TABLE actions DROP COLUMN end_reason`);
    await db.query(`ALTER TABLE decisions DROP COLUMN handover_reason`);
  }
}
