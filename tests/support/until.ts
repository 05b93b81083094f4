/**
 * Test support: polls an async condition every 200 ms until it gives a value,
 * or fails with "condition not reached in time" (the integration tests of
 * transfers wait on `pigeon transfers --json` this way).
 */
export async function until<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 30000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The same with the condition named in the error, for polls whose value may
 * be falsy but defined (the network-namespace LocalSend tests): it returns
 * as soon as fn gives anything but undefined.
 */
export async function untilDefined<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
