import { useEffect } from "react";

/** Set the document title (announced by screen readers on navigation). */
export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Bookings`;
  }, [title]);
}
