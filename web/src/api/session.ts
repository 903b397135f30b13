/** The signed-in staff session: an access token (short-lived, kept in memory and
 * sessionStorage) and a refresh token (rotated on every refresh). The access token
 * is refreshed silently shortly before it expires and once after a 401. */
import type { TokenPair } from "./types";

const STORAGE_KEY = "bookings.session";
/** Refresh this long before the access token's expiry (seconds). */
export const REFRESH_MARGIN_SECONDS = 30;

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Milliseconds since the epoch when the access token expires. */
  expiresAt: number;
}

export interface Claims {
  sub: string;
  role: string;
  exp?: number;
  providerId?: string;
  organisationId?: string;
  name?: string;
  email?: string;
}

type Listener = (session: Session | null) => void;

let current: Session | null = load();
const listeners = new Set<Listener>();

function load(): Session | null {
  try {
    const raw = globalThis.sessionStorage?.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function getSession(): Session | null {
  return current;
}

export function setSession(pair: TokenPair | null, now: number = Date.now()): Session | null {
  current = pair
    ? {
        accessToken: pair.accessToken,
        refreshToken: pair.refreshToken,
        expiresAt: now + pair.expiresIn * 1000,
      }
    : null;
  try {
    if (current) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(current));
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // storage may be disabled: the session then lasts as long as the page
  }
  for (const listener of listeners) listener(current);
  return current;
}

export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The payload of a JWT (not verified: the server does that; the UI only reads it). */
export function decodeClaims(token: string): Claims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as Claims;
  } catch {
    return null;
  }
}

export function needsRefresh(session: Session, now: number = Date.now()): boolean {
  return session.expiresAt - now < REFRESH_MARGIN_SECONDS * 1000;
}
