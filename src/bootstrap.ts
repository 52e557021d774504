import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import { Logger } from 'nestjs-pino';
import { getQueueToken } from '@nestjs/bullmq';
import { AppModule } from './app.module.js';
import { QUEUES } from './scheduler/queues.js';
import type { ProducerQueue } from './scheduler/redis-connection.js';
import type { AppConfig } from './config/app-config.js';
import { ConsoleServer } from './console/console.server.js';

/** Builds the application for a validated configuration; the caller decides when to listen. */
export async function createApp(config: AppConfig): Promise<INestApplication> {
  // The webhook reads its own raw bytes (the signature covers them exactly), so no body parser runs.
  const app = await NestFactory.create(AppModule.forRoot(config), { bodyParser: false, bufferLogs: true });
  app.useLogger(app.get(Logger));
  // Mounted on Express before Nest registers its routes: /console is the console's, or Nest's 404 when it is off.
  if (config.runsConsole) app.use('/console', app.get(ConsoleServer).router());
  // Adds fail while a producer's first connection is still opening: wait it out (bounded) before the sweep's first run.
  await Promise.all(Object.values(QUEUES).map((name) => app.get<ProducerQueue>(getQueueToken(name)).waitForConnection(2000)));
  // SIGHUP is not among them: it reloads the agents file (agents-reloader.ts) and must not stop the process.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  return app;
}
