import { Controller, Headers, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config.js';
import { readRawBody } from './raw-body.js';
import { WebhookService } from './webhook.service.js';

@Controller('webhooks')
export class WebhookController {
  constructor(
    private readonly intake: WebhookService,
    private readonly config: AppConfig,
  ) {}

  /** Inbox 2.0 calls this for every event; `{}` means "the VA acts later over REST". */
  @Post(':agentId')
  @HttpCode(200)
  async receive(
    @Param('agentId') agentId: string,
    @Headers('x-hootsuite-signature') signature: string | undefined,
    @Req() req: Request,
  ): Promise<Record<string, never>> {
    const agent = this.intake.agentFor(agentId);
    const body = await readRawBody(req, this.config.env.WEBHOOK_BODY_LIMIT);
    await this.intake.accept(agent, body, signature);
    return {};
  }
}
