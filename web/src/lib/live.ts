/** Live updates from the notifier: Server-Sent Events (EventSource reconnects by
 * itself and resumes with Last-Event-ID, so no event is missed). */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { getWebConfig } from "../api/endpoints";
import type { LiveEvent } from "../api/types";

export type LiveState = "connecting" | "live" | "offline";

export function useWebConfig() {
  return useQuery({ queryKey: ["web-config"], queryFn: getWebConfig, staleTime: Infinity });
}

/** At most this many streams per page: a browser keeps only six HTTP/1.1
 * connections per origin open. */
export const MAX_STREAMS = 4;

/**
 * Listen to `eventType` events of the notifier stream at `path` (null: not yet; a
 * list: each of them, up to MAX_STREAMS). `onEvent` may change between renders
 * without reconnecting.
 */
export function useLiveEvents<T>(
  path: string | readonly string[] | null,
  eventType: string,
  onEvent: (event: LiveEvent<T>) => void,
): LiveState {
  const config = useWebConfig();
  const handler = useRef(onEvent);
  const [state, setState] = useState<LiveState>("connecting");
  useEffect(() => {
    handler.current = onEvent;
  });
  const base = config.data?.notifierUrl;
  const key = path === null ? "" : (typeof path === "string" ? [path] : path).slice(0, MAX_STREAMS).join("\n");
  useEffect(() => {
    if (!base || !key || typeof EventSource === "undefined") return;
    const listener = (message: MessageEvent<string>) => {
      try {
        handler.current(JSON.parse(message.data) as LiveEvent<T>);
      } catch {
        // not an envelope: ignore
      }
    };
    const sources = key.split("\n").map((one) => new EventSource(new URL(one, base).toString()));
    const update = () =>
      setState(
        sources.every((source) => source.readyState === EventSource.OPEN)
          ? "live"
          : sources.some((source) => source.readyState === EventSource.CLOSED)
            ? "offline"
            : "connecting",
      );
    for (const source of sources) {
      source.addEventListener(eventType, listener as EventListener);
      source.onopen = update;
      source.onerror = update;
    }
    return () => sources.forEach((source) => source.close());
  }, [base, key, eventType]);
  return state;
}
