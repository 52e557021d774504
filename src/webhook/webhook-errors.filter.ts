import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { InvalidEventError, PayloadTooLargeError, SignatureError, UnknownAgentError } from './webhook.errors.js';

const STATUS = new Map<Function, number>([
  [UnknownAgentError, 404],
  [SignatureError, 401],
  [PayloadTooLargeError, 413],
  [InvalidEventError, 400],
]);

/** Maps intake's domain errors to the status codes the Inbox 2.0 contract expects. */
@Catch(UnknownAgentError, SignatureError, PayloadTooLargeError, InvalidEventError)
export class WebhookErrorsFilter implements ExceptionFilter {
  catch(error: Error, host: ArgumentsHost): void {
    const status = STATUS.get(error.constructor) ?? 400;
    const res = host.switchToHttp().getResponse<Response>();
    // The request may still be streaming (413): close the connection rather than read the rest.
    if (status === 413) res.setHeader('Connection', 'close');
    res.status(status).json({ statusCode: status, error: error.name, message: error.message });
  }
}
