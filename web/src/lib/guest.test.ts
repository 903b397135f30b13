import { describe, expect, it } from "vitest";
import { guestSchema } from "./guest";

const valid = {
  firstName: "Ada",
  lastName: "Lovelace",
  email: "ada@example.com",
  phone: "+49 30 1234567",
  address: "",
  specialRequests: "",
};

async function errors(values: Partial<typeof valid>) {
  const result = await guestSchema.safeParseAsync({ ...valid, ...values });
  const first: Record<string, string> = {};
  for (const issue of result.success ? [] : result.error.issues) first[issue.path.join(".")] ??= issue.message;
  return first;
}

describe("guest rules (the server's)", () => {
  it("accepts a complete guest and trims it", async () => {
    const result = await guestSchema.parseAsync({ ...valid, firstName: "  Ada " });
    expect(result.firstName).toBe("Ada");
  });

  it("wants phone numbers in international format that exist", async () => {
    expect(await errors({ phone: "030 1234567" })).toHaveProperty("phone");
    expect(await errors({ phone: "+49 1" })).toHaveProperty("phone");
    expect(await errors({ phone: "+1 202 555 0143" })).toEqual({});
    expect(await errors({ phone: "+44 20 7946 0958" })).toEqual({});
  });

  it("wants names with a letter and no control characters", async () => {
    expect(await errors({ firstName: "1234" })).toEqual({ firstName: "First name must contain a letter" });
    expect(await errors({ lastName: "Love\u0007lace" })).toHaveProperty("lastName");
    expect(await errors({ firstName: "" })).toEqual({ firstName: "First name is required" });
    expect(await errors({ firstName: "Å".repeat(101) })).toHaveProperty("firstName");
    expect(await errors({ firstName: "Zoë-Ångström" })).toEqual({});
  });

  it("wants an email address and bounds the free text", async () => {
    expect(await errors({ email: "ada@" })).toHaveProperty("email");
    expect(await errors({ specialRequests: "x".repeat(2001) })).toHaveProperty("specialRequests");
    expect(await errors({ specialRequests: "line one\nline two" })).toEqual({});
  });
});
