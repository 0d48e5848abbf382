/**
 * Structured JSON logs (pino), one line per event worth telling. Card numbers never appear in
 * full: any field named card_number or cardNumber is masked wherever it sits.
 */
import { pino, type Logger } from 'pino';
import { maskCardNumber } from './luhn.js';

export type { Logger };

export function createLogger(component: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: component,
    level,
    base: { component, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      log(object) {
        for (const key of ['card_number', 'cardNumber']) {
          const value = object[key];
          if (typeof value === 'string') object[key] = maskCardNumber(value);
        }
        return object;
      },
    },
  });
}
