/** The staff session in React: who is signed in, and a guard for the admin panel. */
import { useSyncExternalStore, type ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { decodeClaims, getSession, subscribe, type Claims } from "../api/session";

export function useSession(): { claims: Claims | null; signedIn: boolean } {
  const session = useSyncExternalStore(subscribe, getSession, getSession);
  const claims = session ? decodeClaims(session.accessToken) : null;
  return { claims, signedIn: session !== null };
}

export function RequireStaff({ children }: { children: ReactNode }) {
  const { signedIn } = useSession();
  const location = useLocation();
  if (!signedIn) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/sign-in?next=${next}`} replace />;
  }
  return children;
}
