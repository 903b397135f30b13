/** Small accessible building blocks: labelled fields with their errors, buttons,
 * alerts and status messages. */
import * as Label from "@radix-ui/react-label";
import {
  forwardRef,
  useId,
  type ButtonHTMLAttributes,
  type InputHTMLAttributes,
  type ReactNode,
  type SelectHTMLAttributes,
  type TextareaHTMLAttributes,
} from "react";
import { ApiError } from "../api/client";

interface FieldProps {
  label: string;
  error?: string;
  hint?: string;
  children: (props: { id: string; "aria-describedby"?: string; "aria-invalid"?: boolean }) => ReactNode;
}

export function Field({ label, error, hint, children }: FieldProps) {
  const id = useId();
  const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ");
  return (
    <div className="field">
      <Label.Root htmlFor={id}>{label}</Label.Root>
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {children({ id, "aria-describedby": described || undefined, "aria-invalid": error ? true : undefined })}
      {error && (
        <p className="error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

type InputProps = InputHTMLAttributes<HTMLInputElement> & { label: string; error?: string; hint?: string };

export const TextInput = forwardRef<HTMLInputElement, InputProps>(function TextInput(
  { label, error, hint, ...props },
  ref,
) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(a11y) => <input ref={ref} {...a11y} {...props} />}
    </Field>
  );
});

type TextAreaProps = TextareaHTMLAttributes<HTMLTextAreaElement> & { label: string; error?: string; hint?: string };

export const TextArea = forwardRef<HTMLTextAreaElement, TextAreaProps>(function TextArea(
  { label, error, hint, ...props },
  ref,
) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(a11y) => <textarea ref={ref} rows={3} {...a11y} {...props} />}
    </Field>
  );
});

type SelectProps = SelectHTMLAttributes<HTMLSelectElement> & { label: string; error?: string; hint?: string };

export const Select = forwardRef<HTMLSelectElement, SelectProps>(function Select(
  { label, error, hint, children, ...props },
  ref,
) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(a11y) => (
        <select ref={ref} {...a11y} {...props}>
          {children}
        </select>
      )}
    </Field>
  );
});

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: "primary" | "secondary" | "danger" | "link";
  busy?: boolean;
};

export function Button({ variant = "primary", busy, children, disabled, ...props }: ButtonProps) {
  return (
    <button
      type="button"
      className={`button ${variant}`}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      {...props}
    >
      {children}
    </button>
  );
}

/** What went wrong, in words, with the server's request id for support. */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const detail =
    error instanceof ApiError
      ? error.message
      : error instanceof Error
        ? error.message
        : "Something went wrong.";
  const requestId = error instanceof ApiError ? error.problem.requestId : null;
  return (
    <div className="alert error-alert" role="alert">
      {title && <strong>{title} </strong>}
      {detail}
      {requestId && <span className="request-id"> (request {requestId})</span>}
    </div>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div className="alert notice" role="status">
      {children}
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      {label}
    </p>
  );
}

export function LiveBadge({ state }: { state: "connecting" | "live" | "offline" }) {
  const text = { connecting: "Connecting…", live: "Live", offline: "Offline: reload to update" }[state];
  return <span className={`live-badge ${state}`}>{text}</span>;
}

/** A table that scrolls sideways on narrow screens; focusable so keyboard users can
 * scroll it too (WCAG 2.1.1). */
export function ScrollRegion({ label, children }: { label: string; children: ReactNode }) {
  return (
    // eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex -- a scrollable region must take focus
    <div className="table-scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
