import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeFetch, json, problem } from "../test/render";
import { ApiError, request, signIn, signOut } from "./client";
import { getSession, setSession } from "./session";

const pair = (access: string, expiresIn = 900) => ({ accessToken: access, refreshToken: `r-${access}`, expiresIn, tokenType: "Bearer" });

afterEach(() => {
  vi.unstubAllGlobals();
  setSession(null);
});

describe("the API client", () => {
  it("turns problem+json into an ApiError with field errors", async () => {
    fakeFetch(() => problem(400, "VALIDATION_FAILED", "invalid", { errors: [{ field: "guest.first_name", message: "required" }] }));
    const error = await request("GET", "/x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("VALIDATION_FAILED");
    expect((error as ApiError).fieldErrors()).toEqual({ firstName: "required" });
  });

  it("refreshes an expired access token once and retries", async () => {
    setSession(pair("old"));
    const calls = fakeFetch((call) => {
      if (call.url === "/auth/refresh") return json(200, pair("new"));
      return call.headers.Authorization === "Bearer new" ? json(200, { ok: true }) : problem(401, "UNAUTHENTICATED", "expired");
    });
    await expect(request("GET", "/admin/bookings", { auth: true })).resolves.toEqual({ ok: true });
    expect(calls.map((c) => c.url)).toEqual(["/admin/bookings", "/auth/refresh", "/admin/bookings"]);
    expect(calls[1]!.body).toEqual({ refreshToken: "r-old" });
    expect(getSession()?.accessToken).toBe("new");
  });

  it("refreshes ahead of expiry, one refresh for concurrent requests", async () => {
    setSession(pair("old", 10)); // inside the 30 s margin
    const calls = fakeFetch((call) => (call.url === "/auth/refresh" ? json(200, pair("new")) : json(200, {})));
    await Promise.all([request("GET", "/a", { auth: true }), request("GET", "/b", { auth: true })]);
    expect(calls.filter((c) => c.url === "/auth/refresh")).toHaveLength(1);
    expect(calls.filter((c) => c.url !== "/auth/refresh").every((c) => c.headers.Authorization === "Bearer new")).toBe(true);
  });

  it("signs out when the refresh token is refused", async () => {
    setSession(pair("old"));
    fakeFetch((call) => (call.url === "/auth/refresh" ? problem(401, "UNAUTHENTICATED", "revoked") : problem(401, "UNAUTHENTICATED", "expired")));
    await expect(request("GET", "/admin/bookings", { auth: true })).rejects.toMatchObject({ status: 401 });
    expect(getSession()).toBeNull();
  });

  it("signs in and out, revoking the refresh token", async () => {
    const calls = fakeFetch((call) => (call.url === "/auth/login" ? json(200, pair("a")) : new Response(null, { status: 204 })));
    await signIn("admin@demo.example", "secret");
    expect(getSession()?.accessToken).toBe("a");
    expect(JSON.parse(sessionStorage.getItem("bookings.session")!).refreshToken).toBe("r-a");
    await signOut();
    expect(getSession()).toBeNull();
    expect(calls.at(-1)).toMatchObject({ url: "/auth/logout", body: { refreshToken: "r-a" } });
  });
});
