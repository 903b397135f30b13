/** A small fetch wrapper for the gateway: JSON in and out, problem+json errors as
 * `ApiError`, staff bearer tokens refreshed silently (one refresh in flight at a time). */
import { getSession, needsRefresh, setSession, type Session } from "./session";
import type { FieldError, Problem, TokenPair } from "./types";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail || problem.title);
    this.name = "ApiError";
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
  }

  /** Field errors keyed by field name (`guest.phone` and `phone` both give `phone`). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const { field, message } of this.problem.errors ?? ([] as FieldError[])) {
      const key = field.replace(/^guest\./, "").replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
      out[key] ??= message;
    }
    return out;
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Send the staff session's bearer token (refreshing it first when due). */
  auth?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function problemOf(response: Response): Promise<Problem> {
  const type = response.headers.get("Content-Type") ?? "";
  if (type.includes("json")) {
    try {
      return (await response.json()) as Problem;
    } catch {
      // fall through: a body that is not JSON
    }
  }
  return {
    type: "about:blank",
    title: response.statusText || "Request failed",
    status: response.status,
    detail: `The server answered ${response.status}.`,
    code: response.status >= 500 ? "UPSTREAM_UNAVAILABLE" : "INTERNAL",
    requestId: response.headers.get("X-Request-ID"),
  };
}

let refreshing: Promise<Session | null> | null = null;

/** Exchange the refresh token for a new pair; signs out when the server refuses it. */
export function refreshSession(): Promise<Session | null> {
  const session = getSession();
  if (!session) return Promise.resolve(null);
  refreshing ??= (async () => {
    try {
      const response = await fetch("/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refreshToken: session.refreshToken }),
      });
      if (response.status === 401 || response.status === 400) return setSession(null);
      if (!response.ok) throw new ApiError(await problemOf(response));
      return setSession((await response.json()) as TokenPair);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function bearer(): Promise<string | null> {
  let session = getSession();
  if (session && needsRefresh(session)) session = await refreshSession();
  return session?.accessToken ?? null;
}

export async function request<T>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  const send = async (token: string | null): Promise<Response> => {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    return fetch(withQuery(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  };
  let token = options.auth ? await bearer() : null;
  let response = await send(token);
  if (response.status === 401 && options.auth && token) {
    token = (await refreshSession())?.accessToken ?? null;
    if (token) response = await send(token);
  }
  if (!response.ok) throw new ApiError(await problemOf(response));
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A download that needs the bearer token (CSV export): fetched, then saved. */
export async function download(path: string, filename: string, query?: Query): Promise<void> {
  const token = await bearer();
  const response = await fetch(withQuery(path, query), {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (!response.ok) throw new ApiError(await problemOf(response));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

export async function signIn(email: string, password: string): Promise<Session | null> {
  const pair = await request<TokenPair>("POST", "/auth/login", { body: { email, password } });
  return setSession(pair);
}

export async function signOut(): Promise<void> {
  const session = getSession();
  setSession(null);
  if (session) {
    await fetch("/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refreshToken: session.refreshToken }),
    }).catch(() => undefined);
  }
}
