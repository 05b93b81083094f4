/**
 * Test support for relay scale-out: where the test PostgreSQL and NATS are
 * (PIGEON_TEST_PG_URL, PIGEON_TEST_NATS_URL; by default both on this
 * machine), whether they answer, and fresh names so that runs never see each
 * other's data (a PostgreSQL schema and a NATS subject prefix per test).
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';

export const PG_URL = process.env.PIGEON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_URL = process.env.PIGEON_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
/** Time a service has to answer the check: both run on the LAN or this machine. */
const CHECK_MS = 3000;

async function pgProblem(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: CHECK_MS });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return `PostgreSQL at ${PG_URL} is not reachable (${(err as Error).message || String(err)})`;
  } finally {
    await c.end().catch(() => {});
  }
}

/** A NATS server greets every connection with an INFO line. */
function natsProblem(): Promise<string | null> {
  const u = new URL(NATS_URL);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port || 4222) });
    const done = (problem: string | null): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done(`NATS at ${NATS_URL} did not answer within ${CHECK_MS} ms`), CHECK_MS);
    s.once('data', (d: Buffer) => done(d.toString('latin1').startsWith('INFO') ? null : `${NATS_URL} is not a NATS server`));
    s.once('error', (err) => done(`NATS at ${NATS_URL} is not reachable (${err.message})`));
  });
}

/** Why the scale-out tests cannot run here, or null when both services answer. */
export async function scaleOutUnavailable(): Promise<string | null> {
  const problems = (await Promise.all([pgProblem(), natsProblem()])).filter((p): p is string => p !== null);
  return problems.length > 0 ? problems.join('; ') : null;
}

/** A schema name nobody else uses. */
export function freshSchema(): string {
  return `pigeon_test_${randomBytes(6).toString('hex')}`;
}

/** A NATS subject prefix nobody else uses. */
export function freshPrefix(): string {
  return `pigeon-test-${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}
