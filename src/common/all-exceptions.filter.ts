import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Response } from 'express';
import { safeError } from './safe-error.js';

/** Everything not handled elsewhere: HTTP errors pass through; anything else is a 500 that hides internals. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Unhandled');

  catch(error: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (error instanceof HttpException) {
      res.status(error.getStatus()).json(error.getResponse());
      return;
    }
    const correlationId = randomUUID();
    this.logger.error({ correlationId, err: safeError(error), msg: 'unhandled error' });
    res.status(500).json({ statusCode: 500, error: 'InternalServerError', correlationId });
  }
}
