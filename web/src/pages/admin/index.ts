/** The admin panel, loaded on demand (one chunk). */
export { AdminLayout } from "./AdminLayout";
export { AuditPage } from "./AuditPage";
export { BookingsPage } from "./BookingsPage";
export { DashboardPage } from "./DashboardPage";
export { EventTypeDetailPage } from "./EventTypeDetailPage";
export { EventTypesPage, NewEventTypePage } from "./EventTypesPage";
export { SignInPage } from "./SignInPage";
export { TeamsPage } from "./TeamsPage";
export { TicketedEventsPage } from "./TicketedEventsPage";
export { VenuesPage } from "./VenuesPage";
