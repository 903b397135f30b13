/** Dates and times in an IANA time zone, with the platform's Intl (which reads the
 * same tz database the server's zoneinfo does). A "day key" is `YYYY-MM-DD` in the
 * zone being shown. */

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Every IANA zone name the browser knows (for the time zone picker). */
export function timeZones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: string) => string[] };
  const zones = intl.supportedValuesOf?.("timeZone") ?? [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function parts(instant: Date, timeZone: string): Record<string, string> {
  const out: Record<string, string> = {};
  const format = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  for (const part of format.formatToParts(instant)) out[part.type] = part.value;
  return out;
}

/** The calendar day (`YYYY-MM-DD`) an instant falls on in `timeZone`. */
export function dayKey(instant: Date | string, timeZone: string): string {
  const p = parts(new Date(instant), timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Offset of `timeZone` from UTC at `instant`, in minutes (east positive). */
export function offsetMinutes(instant: Date, timeZone: string): number {
  const p = parts(instant, timeZone);
  const asUtc = Date.UTC(
    Number(p.year),
    Number(p.month) - 1,
    Number(p.day),
    Number(p.hour),
    Number(p.minute),
  );
  return Math.round((asUtc - Math.floor(instant.getTime() / 60000) * 60000) / 60000);
}

/** The instant of local midnight starting `day` in `timeZone` (first instant of the day
 * when a transition skips midnight). */
export function startOfDay(day: string, timeZone: string): Date {
  const instant = new Date(fromLocalInput(`${day}T00:00`, timeZone));
  return dayKey(instant, timeZone) === day ? instant : new Date(instant.getTime() + 3600000);
}

export function addDays(day: string, days: number): string {
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** The month (`YYYY-MM`) of a day key, and the days of the calendar grid showing it:
 * whole weeks from Monday (ISO 8601) covering the month. */
export function monthGrid(month: string): string[] {
  const first = `${month}-01`;
  const [y, m] = month.split("-").map(Number) as [number, number];
  const weekday = (new Date(Date.UTC(y, m - 1, 1)).getUTCDay() + 6) % 7; // Monday = 0
  const daysInMonth = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const cells = Math.ceil((weekday + daysInMonth) / 7) * 7;
  return Array.from({ length: cells }, (_, i) => addDays(first, i - weekday));
}

export function addMonths(month: string, months: number): string {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1 + months, 1)).toISOString().slice(0, 7);
}

export function formatTime(instant: string | Date, timeZone: string): string {
  return new Intl.DateTimeFormat(undefined, { timeZone, timeStyle: "short" }).format(
    new Date(instant),
  );
}

export function formatDay(day: string, options: Intl.DateTimeFormatOptions = {}): string {
  return new Intl.DateTimeFormat(undefined, {
    timeZone: "UTC",
    weekday: "long",
    day: "numeric",
    month: "long",
    ...options,
  }).format(new Date(`${day}T12:00:00Z`));
}

export function formatDateTime(instant: string | Date, timeZone: string): string {
  return new Intl.DateTimeFormat(undefined, {
    timeZone,
    dateStyle: "medium",
    timeStyle: "short",
  }).format(new Date(instant));
}

export function formatMonth(month: string): string {
  return new Intl.DateTimeFormat(undefined, {
    timeZone: "UTC",
    month: "long",
    year: "numeric",
  }).format(new Date(`${month}-15T12:00:00Z`));
}

/** `<input type="datetime-local">` value (`YYYY-MM-DDTHH:mm`) of an instant in a zone. */
export function toLocalInput(instant: Date | string, timeZone: string): string {
  const p = parts(new Date(instant), timeZone);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

/** The instant a `datetime-local` value names in `timeZone` (RFC 3339, UTC). */
export function fromLocalInput(value: string, timeZone: string): string {
  const [day = "", time = "00:00"] = value.split("T");
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  const [h, min] = time.split(":").map(Number) as [number, number];
  const wall = Date.UTC(y, m - 1, d, h, min);
  let instant = wall - offsetMinutes(new Date(wall), timeZone) * 60000;
  instant = wall - offsetMinutes(new Date(instant), timeZone) * 60000;
  return new Date(instant).toISOString();
}
