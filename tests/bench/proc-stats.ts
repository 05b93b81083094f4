/**
 * Benchmark support: what a process costs, read from /proc (Linux): resident
 * memory now and at its peak, CPU seconds used, open file descriptors.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface Memory {
  /** VmRSS: resident now, MB. */
  rssMB: number;
  /** VmHWM: resident at its peak so far, MB. */
  hwmMB: number;
}

export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMB: Math.round(kB('VmRSS') / 102.4) / 10, hwmMB: Math.round(kB('VmHWM') / 102.4) / 10 };
}

/**
 * What resident memory is really the process's own. RSS counts every page of
 * the Node executable it touched (about 35 MB for a bare `node`, ~50 MB for a
 * peer on Node 24), pages that 150 peers on one host share in the page cache.
 * privateMB is RssAnon (heap, malloc, stacks: what each process adds); pssMB
 * charges each shared page to its sharers in equal parts, so PSS summed over
 * all processes is what they use together.
 */
export interface OwnMemory {
  privateMB: number;
  pssMB: number;
}

export function ownMemory(pid: number): OwnMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const anon = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0);
  let pss = 0;
  try {
    pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    // no smaps_rollup (kernel before 4.14): PSS unknown
  }
  return { privateMB: Math.round(anon / 102.4) / 10, pssMB: Math.round(pss / 102.4) / 10 };
}

/** Resident memory of a process now, whole MB (what the hostile tests bound). */
export const rssMb = (pid: number): number => Math.round(memory(pid).rssMB);

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** utime + stime of a /proc stat file (a process's, or a thread's under task/), in seconds. */
function statCpuSeconds(path: string): number {
  // utime and stime are fields 14 and 15: indexes 11 and 12 after the command name.
  const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The soft and hard limit on open files of a process. */
export function fdLimit(pid: number): { soft: number; hard: number } {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files')) ?? '';
  const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/).map(Number);
  return { soft: soft ?? 0, hard: hard ?? 0 };
}

/** CPU seconds the whole machine has been busy (all CPUs, everything but idle and I/O wait), from /proc/stat. */
export function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const t = ticks.map(Number);
  // user nice system idle iowait irq softirq steal (guest time is counted in user already).
  return (t[0]! + t[1]! + t[2]! + t[5]! + t[6]! + t[7]!) / TICKS_PER_SECOND;
}

/**
 * Measures the CPU a set of processes spends from its creation on, and what
 * everything else on the machine spent meanwhile ("others": the machine is
 * shared, and a busy neighbour explains a slow run).
 */
export class CpuMeter {
  private readonly before: Map<string, Map<number, number>>;
  private readonly machineBefore = machineBusySeconds();
  private readonly t = performance.now();

  /** Each name is one process, or a group of them (a database server's processes) counted together. */
  constructor(private readonly pids: Record<string, number | number[]>) {
    this.before = new Map(Object.entries(pids).map(([k, p]) => [k, new Map(group(p).map((pid) => [pid, cpuSecondsOr0(pid)]))]));
  }

  /** CPU seconds of a name's processes since the meter was made (one that exited meanwhile counts as none). */
  private used(k: string, p: number | number[]): number {
    const before = this.before.get(k)!;
    return group(p).reduce((a, pid) => {
      const now = cpuSecondsOr0(pid);
      return now === 0 ? a : a + now - (before.get(pid) ?? 0);
    }, 0);
  }

  /** CPU seconds each process (or group) used since the meter was made. */
  seconds(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.pids).map(([k, p]) => [k, Math.round(this.used(k, p) * 100) / 100]));
  }

  /** Cores used by each process (or group) since the meter was made (1.0 = one CPU busy all the time), and by all other processes together. */
  cores(): Record<string, number> {
    const wall = (performance.now() - this.t) / 1000;
    const used = Object.entries(this.pids).map(([k, p]) => [k, this.used(k, p) / wall] as const);
    const others = (machineBusySeconds() - this.machineBefore) / wall - used.reduce((a, [, c]) => a + c, 0);
    return Object.fromEntries([...used, ['others', Math.max(0, others)] as const].map(([k, c]) => [k, Math.round(c * 100) / 100]));
  }
}

const group = (p: number | number[]): number[] => (Array.isArray(p) ? p : [p]);

/** CPU seconds of a process, 0 once it has exited (a database backend that closed). */
function cpuSecondsOr0(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0;
  }
}

/** The pids of every running process whose command name (/proc/<pid>/comm) is `comm`: e.g. all of PostgreSQL's. */
export function pidsNamed(comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) out.push(Number(d));
    } catch {
      // exited while listed
    }
  }
  return out;
}

/** CPU seconds (user + system) of each thread of a process so far, by thread id (/proc/<pid>/task). */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(tid), statCpuSeconds(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}
