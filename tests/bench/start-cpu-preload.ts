/**
 * Loaded into a `pigeon peer --json` process with `--import` (crowd-start.ts,
 * or the office soak through NODE_OPTIONS): the moment the peer writes its
 * `listening` line, what its start cost, read inside the process so that a
 * busy parent reading the line late does not add the peer's later work.
 * Writes $PIGEON_START_CPU_DIR/<pid>.json: CPU (user, system), CPU per thread
 * (main, V8's workers, libuv's pool …), page faults, context switches, the
 * wall time since the process began, and the events it had printed before
 * (a peer meeting colleagues before `listening` pays for them in its start).
 * At exit it writes <pid>.end.json: the same figures for the whole life and
 * the events printed after `listening` (the crowd's joins). Only benchmarks
 * load it.
 */
// Built-ins through getBuiltinModule, not `import`: an ES view of node:fs
// loads its streams, work the measured peer would not otherwise do.
const { readdirSync, readFileSync, renameSync, writeFileSync } = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');

/** Clock ticks per second of /proc stat files (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

const dir = process.env.PIGEON_START_CPU_DIR;

/** Fields after the command name of a /proc stat file, and the name itself. */
function stat(path: string): { comm: string; f: string[] } {
  const s = readFileSync(path, 'utf8');
  const close = s.lastIndexOf(')');
  return { comm: s.slice(s.indexOf('(') + 1, close), f: s.slice(close + 2).split(' ') };
}

function snapshot(before: Record<string, number>): object {
  const cpu = process.cpuUsage();
  const self = stat('/proc/self/stat').f;
  const status = readFileSync('/proc/self/status', 'utf8');
  const num = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const threads: Record<string, number> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const t = stat(`/proc/self/task/${tid}/stat`);
      // utime, stime: fields 14, 15 (indexes 11, 12 after the name). Threads of one kind summed by name.
      threads[t.comm] = (threads[t.comm] ?? 0) + (Number(t.f[11]) + Number(t.f[12])) / TICKS_PER_SECOND;
    } catch {
      // the thread ended meanwhile
    }
  }
  return {
    userS: cpu.user / 1e6,
    sysS: cpu.system / 1e6,
    threads,
    // minflt, majflt: fields 10, 12 (indexes 7, 9).
    minorFaults: Number(self[7]),
    majorFaults: Number(self[9]),
    voluntarySwitches: num('voluntary_ctxt_switches'),
    involuntarySwitches: num('nonvoluntary_ctxt_switches'),
    rssMB: Math.round(num('VmRSS') / 102.4) / 10,
    wallMs: Math.round(performance.now()),
    eventsBefore: before,
  };
}

// Worker threads load preloads too: only the thread that writes `listening`
// (the main one) writes either file; no worker_threads check, which would load
// a module a start does not (tests/integration/cli-bundle.test.ts).
if (dir) {
  const before: Record<string, number> = {};
  const write = process.stdout.write.bind(process.stdout) as (...a: unknown[]) => boolean;
  const after: Record<string, number> = {};
  let done = false;
  process.on('exit', () => {
    if (!done) return;
    const file = join(dir, `${process.pid}.end.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(snapshot(after)));
    renameSync(`${file}.tmp`, file);
  });
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString() : '';
    if (done) {
      for (const m of text.matchAll(/"type":"([a-z-]+)"/g)) after[m[1]!] = (after[m[1]!] ?? 0) + 1;
    } else {
      for (const m of text.matchAll(/"type":"([a-z-]+)"/g)) {
        if (m[1] === 'listening') {
          done = true;
          // Written whole, then renamed: the reader waits for the name and must not see half a file.
          const file = join(dir, `${process.pid}.json`);
          writeFileSync(`${file}.tmp`, JSON.stringify(snapshot(before)));
          renameSync(`${file}.tmp`, file);
          break;
        }
        before[m[1]!] = (before[m[1]!] ?? 0) + 1;
      }
    }
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
}
