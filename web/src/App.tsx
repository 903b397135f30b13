import { lazy, Suspense } from "react";
import { Link, Route, Routes } from "react-router";
import { Loading } from "./components/ui";
import { RequireStaff } from "./lib/auth";
import { useDocumentTitle } from "./lib/title";
import { BookingPage } from "./pages/public/BookingPage";
import { ConfirmationPage } from "./pages/public/ConfirmationPage";
import { ManagePage } from "./pages/public/ManagePage";

// The guest's booking pages load first; the seat map and the admin panel on demand.
const EventPage = lazy(() => import("./pages/public/EventPage").then((m) => ({ default: m.EventPage })));
const admin = () => import("./pages/admin");
const AdminLayout = lazy(() => admin().then((m) => ({ default: m.AdminLayout })));
const AuditPage = lazy(() => admin().then((m) => ({ default: m.AuditPage })));
const BookingsPage = lazy(() => admin().then((m) => ({ default: m.BookingsPage })));
const DashboardPage = lazy(() => admin().then((m) => ({ default: m.DashboardPage })));
const EventTypeDetailPage = lazy(() => admin().then((m) => ({ default: m.EventTypeDetailPage })));
const EventTypesPage = lazy(() => admin().then((m) => ({ default: m.EventTypesPage })));
const NewEventTypePage = lazy(() => admin().then((m) => ({ default: m.NewEventTypePage })));
const SignInPage = lazy(() => admin().then((m) => ({ default: m.SignInPage })));
const TeamsPage = lazy(() => admin().then((m) => ({ default: m.TeamsPage })));
const TicketedEventsPage = lazy(() => admin().then((m) => ({ default: m.TicketedEventsPage })));
const VenuesPage = lazy(() => admin().then((m) => ({ default: m.VenuesPage })));

/** The app's URLs; the gateway serves index.html for each of them (see ROUTES in
 * services/gateway/src/gateway/web_app.py). */
export function App() {
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
      <Route path="/" element={<Home />} />
      <Route path="/book/:slug" element={<BookingPage />} />
      <Route path="/book/:slug/confirmed" element={<ConfirmationPage />} />
      <Route path="/manage/:reference" element={<ManagePage />} />
      <Route path="/events/:id" element={<EventPage />} />
      <Route path="/sign-in" element={<SignInPage />} />
      <Route
        path="/dashboard"
        element={
          <RequireStaff>
            <AdminLayout />
          </RequireStaff>
        }
      >
        <Route index element={<DashboardPage />} />
        <Route path="event-types" element={<EventTypesPage />} />
        <Route path="event-types/new" element={<NewEventTypePage />} />
        <Route path="event-types/:id" element={<EventTypeDetailPage />} />
        <Route path="bookings" element={<BookingsPage />} />
        <Route path="teams" element={<TeamsPage />} />
        <Route path="venues" element={<VenuesPage />} />
        <Route path="events" element={<TicketedEventsPage />} />
        <Route path="audit" element={<AuditPage />} />
      </Route>
      <Route path="*" element={<NotFound />} />
      </Routes>
    </Suspense>
  );
}

function Home() {
  useDocumentTitle("Welcome");
  return (
    <main className="page narrow">
      <h1>Bookings</h1>
      <p>Appointments, bookable event types and ticketed events on one platform.</p>
      <p>
        Guests book from the public link they were given. Staff <Link to="/sign-in">sign in</Link> to the admin
        panel.
      </p>
    </main>
  );
}

function NotFound() {
  useDocumentTitle("Not found");
  return (
    <main className="page narrow">
      <h1>Page not found</h1>
      <p>
        <Link to="/">Start page</Link>
      </p>
    </main>
  );
}
