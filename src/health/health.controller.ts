import { InjectQueue } from '@nestjs/bullmq';
import { Controller, Get, HttpCode, ServiceUnavailableException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { QUEUES } from '../scheduler/queues.js';
import { AgentsReloader, type AgentsFileStatus } from '../config/agents-reloader.js';
import { BudgetsService, type BudgetsStatus } from '../policy/budgets.service.js';

const CHECK_TIMEOUT_MS = 2000;

@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(QUEUES.turns) private readonly turns: Queue,
    private readonly reloader: AgentsReloader,
    private readonly budgets: BudgetsService,
  ) {}

  /** Liveness: the process answers. */
  @Get()
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: Postgres and Redis both answer; 503 names the one that does not. */
  @Get('ready')
  @HttpCode(200)
  async ready(): Promise<{ status: 'ok'; postgres: 'ok'; redis: 'ok'; agentsFile: AgentsFileStatus; budgets?: BudgetsStatus | string }> {
    const [postgres, redis] = await Promise.all([
      check(() => this.dataSource.query('SELECT 1')),
      check(async () => (await this.turns.getBackend().client).get('health-probe')),
    ]);
    // An invalid edit of the agents file does not make the process unready: the agents loaded before still serve.
    const agentsFile = this.reloader.status;
    if (postgres !== 'ok' || redis !== 'ok') {
      throw new ServiceUnavailableException({ status: 'unavailable', postgres, redis, agentsFile });
    }
    // Nor does a spent daily budget: the agent hands new conversations over, as configured. Said only when an agent has one.
    const budgets = await this.budgets.status().catch((err: Error) => `unknown: ${err.message}`);
    return { status: 'ok', postgres, redis, agentsFile, ...(budgets ? { budgets } : {}) };
  }
}

async function check(probe: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS}ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  } finally {
    clearTimeout(timer);
  }
}
