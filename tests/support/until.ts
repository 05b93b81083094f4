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
