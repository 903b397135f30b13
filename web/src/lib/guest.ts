/** The guest form's rules, the same as the server's (booking-core domain/guests.py):
 * names 1..100 printable characters with a letter, an email address, a phone number
 * valid for its country in international format (libphonenumber's metadata, as the
 * server's phonenumbers), address ≤ 500, special requests ≤ 2000 characters. */
import { z } from "zod";

let phoneRules: Promise<typeof import("libphonenumber-js/max")> | null = null;
/** libphonenumber's full metadata (about 150 kB), loaded when a form first needs it. */
export const loadPhoneRules = () => (phoneRules ??= import("libphonenumber-js/max"));

export const NAME_MAX = 100;
export const ADDRESS_MAX = 500;
export const SPECIAL_REQUESTS_MAX = 2000;
export const EMAIL_MAX = 254;
export const PHONE_MAX = 32;

// Letters, marks, numbers, punctuation, symbols and spaces: no control characters.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u;
const TEXT = /^[\p{L}\p{M}\p{N}\p{P}\p{S} \n\t]*$/u;

const name = (label: string) =>
  z
    .string()
    .trim()
    .min(1, `${label} is required`)
    .max(NAME_MAX, `${label} must be at most ${NAME_MAX} characters`)
    .regex(PRINTABLE, `${label} must be printable characters`)
    .refine((value) => /\p{L}/u.test(value), `${label} must contain a letter`);

export const guestSchema = z.object({
  firstName: name("First name"),
  lastName: name("Last name"),
  email: z
    .string()
    .trim()
    .min(1, "Email is required")
    .max(EMAIL_MAX, `Email must be at most ${EMAIL_MAX} characters`)
    .pipe(z.email("Enter an email address, e.g. ada@example.com")),
  phone: z
    .string()
    .trim()
    .min(1, "Phone is required")
    .max(PHONE_MAX, `Phone must be at most ${PHONE_MAX} characters`)
    .refine(
      async (value) => value.startsWith("+") && (await loadPhoneRules()).isValidPhoneNumber(value),
      "Enter a phone number with its country code, e.g. +49 30 1234567",
    ),
  address: z
    .string()
    .trim()
    .max(ADDRESS_MAX, `Address must be at most ${ADDRESS_MAX} characters`)
    .regex(TEXT, "Address must be printable characters"),
  specialRequests: z
    .string()
    .trim()
    .max(SPECIAL_REQUESTS_MAX, `Special requests must be at most ${SPECIAL_REQUESTS_MAX} characters`)
    .regex(TEXT, "Special requests must be printable characters"),
});

export type GuestForm = z.input<typeof guestSchema>;
export type GuestValues = z.output<typeof guestSchema>;

export const buyerSchema = z.object({
  name: z.string().trim().min(1, "Name is required").max(200, "Name must be at most 200 characters"),
  email: guestSchema.shape.email,
});

export type BuyerForm = z.input<typeof buyerSchema>;
