import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { listEventTypes } from "../../api/endpoints";
import type { EventType } from "../../api/types";

/** The event types the signed-in user manages, and a lookup by id. */
export function useEventTypes() {
  const query = useQuery({ queryKey: ["event-types"], queryFn: () => listEventTypes() });
  const byId = useMemo(
    () => new Map<string, EventType>((query.data?.items ?? []).map((item) => [item.id, item])),
    [query.data],
  );
  return { ...query, byId };
}

/** The availability channels of the most recently changed active event types. */
export function availabilityPaths(eventTypes: EventType[]): string[] {
  return eventTypes
    .filter((item) => item.active)
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
    .map((item) => `/public/event-types/${encodeURIComponent(item.customSlug ?? item.slug)}/availability`);
}
