/** An idempotency key for one user action (kept across its retries). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
