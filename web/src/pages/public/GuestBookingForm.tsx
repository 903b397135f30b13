/** The guest's details for one slot, checked with the server's rules before sending;
 * the server's own field errors land on the same fields. */
import { zodResolver } from "@hookform/resolvers/zod";
import { useMutation } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useForm } from "react-hook-form";
import { useNavigate } from "react-router";
import { ApiError } from "../../api/client";
import { bookSlot } from "../../api/endpoints";
import type { Slot } from "../../api/types";
import { Button, ErrorMessage, TextArea, TextInput } from "../../components/ui";
import { guestSchema, loadPhoneRules, type GuestForm, type GuestValues } from "../../lib/guest";
import { newIdempotencyKey } from "../../lib/ids";
import { formatTime } from "../../lib/time";

interface Props {
  slug: string;
  slot: Slot;
  timeZone: string;
  onBack: () => void;
  /** The slot filled up (or went) meanwhile: pick another. */
  onSlotGone: () => void;
}

const FIELDS = ["firstName", "lastName", "email", "phone", "address", "specialRequests"] as const;

export function GuestBookingForm({ slug, slot, timeZone, onBack, onSlotGone }: Props) {
  const navigate = useNavigate();
  // One key per attempt at this slot: a retried submit cannot book twice.
  const [idempotencyKey] = useState(newIdempotencyKey);
  useEffect(() => void loadPhoneRules(), []);
  const {
    register,
    handleSubmit,
    setError,
    formState: { errors },
  } = useForm<GuestForm, unknown, GuestValues>({
    resolver: zodResolver(guestSchema),
    defaultValues: { firstName: "", lastName: "", email: "", phone: "", address: "", specialRequests: "" },
    mode: "onTouched",
  });
  const booking = useMutation({
    mutationFn: (values: GuestValues) =>
      bookSlot(slug, {
        ...values,
        address: values.address || undefined,
        specialRequests: values.specialRequests || undefined,
        slotStart: slot.start,
        idempotencyKey,
      }),
    onSuccess: (created) => {
      const token = new URL(created.manageUrl, window.location.origin).searchParams.get("token") ?? "";
      const query = new URLSearchParams({ reference: created.reference, token });
      void navigate(`/book/${encodeURIComponent(slug)}/confirmed?${query}`);
    },
    onError: (error) => {
      if (error instanceof ApiError && error.code === "VALIDATION_FAILED") {
        for (const [field, message] of Object.entries(error.fieldErrors())) {
          if ((FIELDS as readonly string[]).includes(field)) {
            setError(field as (typeof FIELDS)[number], { message }, { shouldFocus: true });
          }
        }
      }
    },
  });
  const gone =
    booking.error instanceof ApiError &&
    ["SLOT_FULL", "SLOT_UNAVAILABLE"].includes(booking.error.code);

  return (
    <form noValidate onSubmit={handleSubmit((values) => booking.mutate(values))}>
      <p>
        {formatTime(slot.start, timeZone)} – {formatTime(slot.end, timeZone)} ({timeZone.replace(/_/g, " ")})
      </p>
      <div className="grid two">
        <TextInput label="First name" autoComplete="given-name" error={errors.firstName?.message} {...register("firstName")} />
        <TextInput label="Last name" autoComplete="family-name" error={errors.lastName?.message} {...register("lastName")} />
      </div>
      <TextInput label="Email" type="email" autoComplete="email" error={errors.email?.message} {...register("email")} />
      <TextInput
        label="Phone"
        type="tel"
        autoComplete="tel"
        hint="With the country code, e.g. +49 30 1234567"
        error={errors.phone?.message}
        {...register("phone")}
      />
      <TextInput label="Address (optional)" autoComplete="street-address" error={errors.address?.message} {...register("address")} />
      <TextArea label="Special requests (optional)" error={errors.specialRequests?.message} {...register("specialRequests")} />
      {gone ? (
        <div className="alert error-alert" role="alert">
          That time has just been taken. <Button variant="link" onClick={onSlotGone}>Pick another time</Button>
        </div>
      ) : (
        booking.isError &&
        !(booking.error instanceof ApiError && booking.error.code === "VALIDATION_FAILED") && (
          <ErrorMessage error={booking.error} title="Not booked." />
        )
      )}
      <div className="row">
        <Button variant="secondary" onClick={onBack}>
          Back
        </Button>
        <Button type="submit" busy={booking.isPending}>
          {booking.isPending ? "Booking…" : "Confirm booking"}
        </Button>
      </div>
    </form>
  );
}
