/**
 * The CPU time of another process, read from outside (so the measured process does no work for
 * it): /proc/<pid>/stat's utime and stime, which cover every thread of the process (the main one,
 * V8's GC and compiler helpers, libuv's pool, LevelDB's), those that have exited included, and not
 * its children. Linux only. Resolution: one clock tick (1 / CLK_TCK s, 10 ms on Linux).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

const TICKS_PER_S = clockTicks();
/** The smallest step of processCpu, seconds. */
export const CPU_RESOLUTION_S = 1 / TICKS_PER_S;

export interface CpuTimes {
  /** Seconds in user mode. */
  user: number;
  /** Seconds in the kernel on the process's behalf. */
  system: number;
}

export function processCpu(pid: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  if (!Number.isFinite(user) || !Number.isFinite(system)) throw new Error(`cannot read the CPU time of ${pid} from /proc/${pid}/stat`);
  return { user: user / TICKS_PER_S, system: system / TICKS_PER_S };
}

export const cpuSeconds = (t: CpuTimes): number => t.user + t.system;
