/** Time left until `until`, ticking each second; calls `onDone` once at zero. The
 * visible clock is not a live region (a screen reader would hear every second);
 * a polite announcement is made at each whole minute and at the last 30 seconds. */
import { useEffect, useRef, useState } from "react";

export function secondsLeft(until: string, now: number = Date.now()): number {
  return Math.max(0, Math.ceil((Date.parse(until) - now) / 1000));
}

export function formatClock(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

export function Countdown({ until, onDone }: { until: string; onDone?: () => void }) {
  const [left, setLeft] = useState(() => secondsLeft(until));
  const done = useRef(false);
  useEffect(() => {
    done.current = false;
    const tick = () => {
      const value = secondsLeft(until);
      setLeft(value);
      if (value === 0 && !done.current) {
        done.current = true;
        onDone?.();
      }
    };
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }, [until, onDone]);
  const announce =
    left === 0 ? "Your hold has ended." : left % 60 === 0 || left === 30 ? `${formatClock(left)} left to pay.` : null;
  return (
    <div className={`countdown${left <= 60 ? " urgent" : ""}`}>
      <span className="countdown-label">Seats held for</span>{" "}
      <time className="countdown-clock" data-testid="countdown" dateTime={`PT${left}S`}>
        {formatClock(left)}
      </time>
      <span className="visually-hidden" aria-live="polite">
        {announce}
      </span>
    </div>
  );
}
