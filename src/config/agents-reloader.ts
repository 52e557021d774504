import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { safeError } from '../common/safe-error.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { readAgentsFile } from './agents.loader.js';
import { AppConfig } from './app-config.js';
import { ConfigError } from './config.error.js';

/** Editors write a file in several steps (truncate, write, rename): one reload after they settle. */
const SETTLE_MS = 300;

export interface AgentsFileStatus {
  /** False when the last reload found the file invalid: the agents in service are the previous ones. */
  valid: boolean;
  /** When the agents in service were loaded. */
  loadedAt: Date;
  /** The last invalid file's problems, each naming its line, agent and field. */
  errors: string[];
  checkedAt: Date;
}

/**
 * Reloads the agents file on SIGHUP and when the file changes: the whole new file is validated
 * first; valid, it replaces the agents at once (a turn in flight keeps the agent it started with)
 * and what changed is logged per agent; invalid, the running agents stay, and the errors go to the
 * log, `/health/ready` and a metric. Secrets named by `secretEnv` and by actions' headers are read
 * again from the environment (and `.env`). No HTTP endpoint changes the configuration.
 */
@Injectable()
export class AgentsReloader implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AgentsReloader.name);
  private readonly path: string;
  private watcher?: FSWatcher;
  private settle?: NodeJS.Timeout;
  private readonly onHangUp = () => this.reload('SIGHUP');
  status: AgentsFileStatus;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.path = resolve(config.env.AGENTS_FILE);
    this.status = { valid: true, loadedAt: new Date(), errors: [], checkedAt: new Date() };
    this.metrics.agentsFileValid.set(1);
  }

  onApplicationBootstrap(): void {
    process.on('SIGHUP', this.onHangUp);
    try {
      // The folder, not the file: an editor that saves by renaming a new file over it would leave a
      // watch on the old one looking at nothing.
      this.watcher = watch(dirname(this.path), (_event, name) => {
        if (name === basename(this.path)) this.scheduleReload();
      });
      this.watcher.on('error', (err) => this.logger.warn({ err: safeError(err), msg: 'cannot watch the agents file any more; SIGHUP still reloads it' }));
    } catch (err) {
      this.logger.warn({ path: this.path, err: safeError(err), msg: 'cannot watch the agents file; SIGHUP reloads it' });
    }
  }

  onApplicationShutdown(): void {
    process.off('SIGHUP', this.onHangUp);
    clearTimeout(this.settle);
    this.watcher?.close();
  }

  private scheduleReload(): void {
    clearTimeout(this.settle);
    this.settle = setTimeout(() => this.reload('file changed'), SETTLE_MS);
    this.settle.unref();
  }

  /** Reads and validates the file; swaps it in when valid. Returns whether it was. */
  reload(trigger: string): boolean {
    const checkedAt = new Date();
    try {
      const file = readAgentsFile(this.path, this.config.envSource());
      const change = this.config.replace(file);
      this.status = { valid: true, loadedAt: checkedAt, errors: [], checkedAt };
      this.metrics.agentsFileValid.set(1);
      const changed = change.added.length + change.removed.length + Object.keys(change.changed).length > 0 || change.pricing;
      this.metrics.agentsFileReloads.inc({ result: changed ? 'applied' : 'unchanged' });
      if (!changed) {
        this.logger.debug({ trigger, msg: 'agents file reloaded: nothing changed' });
        return true;
      }
      for (const id of change.added) this.logger.log({ trigger, agentId: id, msg: 'agents file reloaded: agent added' });
      for (const id of change.removed) this.logger.log({ trigger, agentId: id, msg: 'agents file reloaded: agent removed (no new events; open conversations end by their timers)' });
      for (const [id, fields] of Object.entries(change.changed)) this.logger.log({ trigger, agentId: id, fields, msg: 'agents file reloaded: agent changed' });
      if (change.pricing) this.logger.log({ trigger, msg: 'agents file reloaded: pricing changed' });
      return true;
    } catch (err) {
      const errors = err instanceof ConfigError ? err.problems : [`the agents file could not be reloaded: ${(err as Error).message}`];
      this.status = { ...this.status, valid: false, errors, checkedAt };
      this.metrics.agentsFileValid.set(0);
      this.metrics.agentsFileReloads.inc({ result: 'invalid' });
      this.logger.error({ trigger, errors, msg: 'agents file is invalid: still serving the agents loaded before' });
      return false;
    }
  }
}
