import { useInfiniteQuery } from "@tanstack/react-query";
import { listAudit } from "../../api/endpoints";
import { Button, ErrorMessage, Loading, ScrollRegion } from "../../components/ui";
import { browserTimeZone, formatDateTime } from "../../lib/time";
import { useDocumentTitle } from "../../lib/title";

/** Who changed what, newest first. */
export function AuditPage() {
  const audit = useInfiniteQuery({
    queryKey: ["audit"],
    queryFn: ({ pageParam }) => listAudit(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.nextCursor ?? undefined,
  });
  useDocumentTitle("Audit log");
  const timeZone = browserTimeZone();
  return (
    <>
      <h1>Audit log</h1>
      {audit.isPending ? (
        <Loading />
      ) : audit.isError ? (
        <ErrorMessage error={audit.error} />
      ) : (
        <section className="card">
          <ScrollRegion label="Audit entries">
            <table className="data">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {audit.data.pages.flatMap((page) => page.items).map((entry) => (
                  <tr key={entry.id}>
                    <td>{formatDateTime(entry.createdAt, timeZone)}</td>
                    <td>{entry.actor}</td>
                    <td>{entry.action}</td>
                    <td>
                      {entry.targetType} <span className="hint">{entry.targetId.slice(0, 8)}</span>
                    </td>
                    <td>
                      <code>{JSON.stringify(entry.details)}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </ScrollRegion>
          {audit.hasNextPage && (
            <Button variant="secondary" busy={audit.isFetchingNextPage} onClick={() => void audit.fetchNextPage()}>
              Older entries
            </Button>
          )}
        </section>
      )}
    </>
  );
}
