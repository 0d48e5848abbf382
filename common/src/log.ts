/**
 * Structured JSON logs (pino), one line per event worth telling. No card number (PAN) is ever
 * written: every finished line passes scrubPans, so a PAN is masked wherever it sits — a field at
 * any depth, an error's message or stack, a rejected record quoted in a detail.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { scrubPans } from './pan-scrub.js';

export type { Logger };

export function createLogger(component: string, level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = {
    name: component,
    level,
    base: { component, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: { streamWrite: scrubPans },
  };
  return destination ? pino(options, destination) : pino(options);
}
