import { describe, expect, it } from "vitest";
import { formatMoney, minorDigits, parseMoney } from "./money";

describe("money in minor units (ISO 4217)", () => {
  it("knows each currency's exponent", () => {
    expect(minorDigits("EUR")).toBe(2);
    expect(minorDigits("JPY")).toBe(0);
    expect(minorDigits("BHD")).toBe(3);
  });

  it("parses amounts with no more digits than the currency has", () => {
    expect(parseMoney("12.50", "EUR")).toBe(1250);
    expect(parseMoney("12,5", "EUR")).toBe(1250);
    expect(parseMoney("7", "EUR")).toBe(700);
    expect(parseMoney("1500", "JPY")).toBe(1500);
    expect(parseMoney("1.5", "JPY")).toBeNull();
    expect(parseMoney("1.234", "EUR")).toBeNull();
    expect(parseMoney("-3", "EUR")).toBeNull();
    expect(parseMoney("abc", "EUR")).toBeNull();
  });

  it("formats minor units as the currency", () => {
    expect(formatMoney(2500, "EUR")).toMatch(/25[.,]00/);
    expect(formatMoney(1500, "JPY")).toMatch(/1,?500/);
  });
});
