/**
 * Benchmark support: CPU seconds per thread of a process, grouped by thread
 * name (/proc/<pid>/task/<tid>/comm and stat, Linux). The main thread (tid =
 * pid) is "main"; libuv's pool, V8's GC and compiler helpers keep their own
 * names. Used to say where each CPU-second of a transfer goes.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/task/<tid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU seconds so far per thread name; threads that ended are not counted (their time is lost to this view). */
export function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = Number(tid) === pid ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).trim();
      // utime and stime: fields 14 and 15, indexes 11 and 12 after the command name.
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** after − before per thread name, rounded to 0.01 s, largest first, zeros left out. */
export function threadCpuDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const rows = Object.entries(after)
    .map(([k, v]) => [k, Math.round((v - (before[k] ?? 0)) * 100) / 100] as const)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(rows);
}

/** The same code as a string, for `node -e` children that report their own threads when they finish. */
export const THREAD_CPU_SNIPPET = `(()=>{const fs=require('node:fs');const o={};for(const t of fs.readdirSync('/proc/self/task')){try{const s=fs.readFileSync('/proc/self/task/'+t+'/stat','utf8');const n=Number(t)===process.pid?'main':s.slice(s.indexOf('(')+1,s.lastIndexOf(')')).trim();const f=s.slice(s.lastIndexOf(') ')+2).split(' ');o[n]=(o[n]||0)+(Number(f[11])+Number(f[12]))/100}catch{}}return o})()`;
