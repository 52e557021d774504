import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import { Logger } from 'nestjs-pino';
import { getQueueToken } from '@nestjs/bullmq';
import { AppModule } from './app.module.js';
import { QUEUES } from './scheduler/queues.js';
import type { ProducerQueue } from './scheduler/redis-connection.js';
import type { AppConfig } from './config/app-config.js';

/** Builds the application for a validated configuration; the caller decides when to listen. */
export async function createApp(config: AppConfig): Promise<INestApplication> {
  // The webhook reads its own raw bytes (the signature covers them exactly), so no body parser runs.
  const app = await NestFactory.create(AppModule.forRoot(config), { bodyParser: false, bufferLogs: true });
  app.useLogger(app.get(Logger));
  // Adds fail while a producer's first connection is still opening: wait it out (bounded) before the sweep's first run.
  await Promise.all(Object.values(QUEUES).map((name) => app.get<ProducerQueue>(getQueueToken(name)).waitForConnection(2000)));
  app.enableShutdownHooks();
  return app;
}
