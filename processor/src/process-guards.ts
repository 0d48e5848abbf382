/**
 * The last line of defence against a silent stop. Every promise in the processor is awaited or
 * handled where it is made; should one ever not be (a bug), its rejection is logged and counted
 * here instead of ending the process (Node's default), which would stop every healthy shard for
 * the sake of one stray promise. An uncaught exception is different: the stack it unwound may
 * have left state half-changed, so it is logged and the process exits 1 (the orchestrator starts
 * a new one, which continues from the checkpoints).
 */
import type { Logger } from 'pino';

export interface ProcessLike {
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  on(event: 'uncaughtException', listener: (error: Error) => void): unknown;
  exit(code: number): never;
}

export function guardProcess(proc: ProcessLike, log: Logger, onUnhandledRejection: () => void = () => {}): void {
  proc.on('unhandledRejection', (reason) => {
    onUnhandledRejection();
    log.error({ err: reason }, 'unhandled promise rejection (a bug): logged and counted, the process goes on');
  });
  proc.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'uncaught exception: exiting; the next start continues from the checkpoints');
    proc.exit(1);
  });
}
