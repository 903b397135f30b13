/** The admin panel's frame: navigation (admins see the organisation's pages,
 * providers their own), the signed-in user and sign-out. */
import { NavLink, Outlet, useNavigate } from "react-router";
import { signOut } from "../../api/client";
import { Button } from "../../components/ui";
import { useSession } from "../../lib/auth";

const LINKS = [
  { to: "/dashboard", label: "Dashboard", end: true, admin: false },
  { to: "/dashboard/event-types", label: "Event types", admin: false },
  { to: "/dashboard/bookings", label: "Bookings", admin: true },
  { to: "/dashboard/teams", label: "Teams", admin: true },
  { to: "/dashboard/venues", label: "Venues", admin: true },
  { to: "/dashboard/events", label: "Ticketed events", admin: true },
  { to: "/dashboard/audit", label: "Audit log", admin: true },
];

export function AdminLayout() {
  const { claims } = useSession();
  const navigate = useNavigate();
  const admin = claims?.role === "admin";
  return (
    <div className="admin">
      <a className="skip-link" href="#content">
        Skip to content
      </a>
      <header className="admin-bar">
        <span className="brand">Bookings</span>
        <nav aria-label="Admin">
          <ul>
            {LINKS.filter((link) => admin || !link.admin).map((link) => (
              <li key={link.to}>
                <NavLink to={link.to} end={link.end}>
                  {link.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span>{claims?.email ?? claims?.name ?? claims?.role}</span>
          <Button
            variant="secondary"
            onClick={async () => {
              await signOut();
              void navigate("/sign-in");
            }}
          >
            Sign out
          </Button>
        </div>
      </header>
      <main id="content" className="page wide" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
