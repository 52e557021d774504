import { Logger } from '@nestjs/common';

// Outside an app (unit specs, the Inbox client), Nest's static logger prints every level; keep test
// output to failures unless TEST_LOG_LEVEL asks for more. Apps under test log through pino.
Logger.overrideLogger(process.env.TEST_LOG_LEVEL ? ['error', 'warn', 'log', 'debug'] : false);
