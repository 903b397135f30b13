/** Create or edit an event type: what it is, when it runs (weekly hours in its time
 * zone, days off) and its booking rules. The bounds are the API's (EventTypeRequest). */
import { zodResolver } from "@hookform/resolvers/zod";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo } from "react";
import { useFieldArray, useForm } from "react-hook-form";
import { z } from "zod";
import { ApiError } from "../../api/client";
import { createEventType, listTeams, listUsers, updateEventType, type EventTypeBody } from "../../api/endpoints";
import type { EventType, Weekday } from "../../api/types";
import { Button, ErrorMessage, Select, TextArea, TextInput } from "../../components/ui";
import { useSession } from "../../lib/auth";
import { browserTimeZone, isTimeZone, timeZones } from "../../lib/time";

export const WEEKDAYS: Weekday[] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const int = (label: string, min: number, max: number) =>
  z.coerce
    .number({ message: `${label} must be a whole number` })
    .int(`${label} must be a whole number`)
    .min(min, `${label} must be at least ${min}`)
    .max(max, `${label} must be at most ${max}`);

export const eventTypeSchema = z.object({
  name: z.string().trim().min(1, "Name is required").max(200),
  description: z.string().max(5000),
  location: z.string().max(500),
  timeZone: z.string().refine(isTimeZone, "Pick a time zone"),
  periodMinutes: int("Length", 5, 480),
  capacity: int("Places per slot", 1, 1000),
  bufferBeforeMinutes: int("Buffer before", 0, 480),
  bufferAfterMinutes: int("Buffer after", 0, 480),
  minimumNoticeMinutes: int("Minimum notice", 0, 525600),
  bookingHorizonDays: int("Booking horizon", 1, 730),
  weeklyHours: z
    .array(
      z
        .object({
          weekday: z.enum(WEEKDAYS as [Weekday, ...Weekday[]]),
          from: z.string().regex(HHMM, "HH:MM"),
          to: z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, "HH:MM"),
        })
        .refine((hours) => hours.from < hours.to, { message: "Ends after it starts", path: ["to"] }),
    )
    .max(100),
  dateExceptions: z
    .string()
    .refine(
      (text) => text.split(/[\s,]+/).every((day) => day === "" || /^\d{4}-\d{2}-\d{2}$/.test(day)),
      "Dates as YYYY-MM-DD, separated by commas",
    ),
  customSlug: z
    .string()
    .trim()
    .refine((slug) => slug === "" || /^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/.test(slug), "Letters, digits and single hyphens")
    .refine((slug) => slug === "" || (slug.length >= 3 && slug.length <= 64), "3 to 64 characters"),
  owner: z.string(),
});

type FormInput = z.input<typeof eventTypeSchema>;
type FormOutput = z.output<typeof eventTypeSchema>;

function defaults(eventType?: EventType): FormInput {
  return {
    name: eventType?.name ?? "",
    description: eventType?.description ?? "",
    location: eventType?.location ?? "",
    timeZone: eventType?.timeZone ?? browserTimeZone(),
    periodMinutes: eventType?.periodMinutes ?? 30,
    capacity: eventType?.capacity ?? 1,
    bufferBeforeMinutes: eventType?.bufferBeforeMinutes ?? 0,
    bufferAfterMinutes: eventType?.bufferAfterMinutes ?? 0,
    minimumNoticeMinutes: eventType?.minimumNoticeMinutes ?? 60,
    bookingHorizonDays: eventType?.bookingHorizonDays ?? 60,
    weeklyHours:
      eventType?.weeklyHours ??
      WEEKDAYS.slice(0, 5).map((weekday) => ({ weekday, from: "09:00", to: "17:00" })),
    dateExceptions: (eventType?.dateExceptions ?? []).join(", "),
    customSlug: eventType?.customSlug ?? "",
    owner: "",
  };
}

function toBody(values: FormOutput): EventTypeBody {
  return {
    name: values.name,
    description: values.description,
    location: values.location,
    timeZone: values.timeZone,
    periodMinutes: values.periodMinutes,
    capacity: values.capacity,
    bufferBeforeMinutes: values.bufferBeforeMinutes,
    bufferAfterMinutes: values.bufferAfterMinutes,
    minimumNoticeMinutes: values.minimumNoticeMinutes,
    bookingHorizonDays: values.bookingHorizonDays,
    weeklyHours: values.weeklyHours,
    dateExceptions: values.dateExceptions.split(/[\s,]+/).filter(Boolean),
    customSlug: values.customSlug || null,
  };
}

export function EventTypeForm({ eventType, onSaved }: { eventType?: EventType; onSaved: (saved: EventType) => void }) {
  const { claims } = useSession();
  const admin = claims?.role === "admin";
  const creating = !eventType;
  const queryClient = useQueryClient();
  const zones = useMemo(() => timeZones(), []);
  const users = useQuery({ queryKey: ["users"], queryFn: listUsers, enabled: admin && creating });
  const teams = useQuery({ queryKey: ["teams"], queryFn: listTeams, enabled: admin && creating });
  const providers = (users.data?.items ?? []).filter((user) => user.providerId && !user.disabled);
  const form = useForm<FormInput, unknown, FormOutput>({
    resolver: zodResolver(eventTypeSchema),
    defaultValues: defaults(eventType),
  });
  const { register, handleSubmit, control, setError, formState } = form;
  const { errors } = formState;
  const hours = useFieldArray({ control, name: "weeklyHours" });
  const save = useMutation({
    mutationFn: (values: FormOutput) => {
      const body = toBody(values);
      if (eventType) return updateEventType(eventType.id, body);
      const [kind, id] = values.owner.split(":");
      return createEventType({ ...body, ...(kind === "team" ? { teamId: id } : kind === "provider" ? { providerId: id } : {}) });
    },
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: ["event-types"] });
      queryClient.setQueryData(["event-type", saved.id], saved);
      onSaved(saved);
    },
    onError: (error) => {
      if (error instanceof ApiError) {
        for (const [field, message] of Object.entries(error.fieldErrors())) {
          const name = field === "providerId" || field === "teamId" ? "owner" : field;
          if (name in defaults()) setError(name as keyof FormInput, { message });
        }
        if (error.code === "SLUG_TAKEN") setError("customSlug", { message: error.message });
      }
    },
  });

  return (
    <form noValidate onSubmit={handleSubmit((values) => save.mutate(values))} className="stack">
      <fieldset>
        <legend>What</legend>
        <TextInput label="Name" error={errors.name?.message} {...register("name")} />
        <TextArea label="Description" error={errors.description?.message} {...register("description")} />
        <TextInput label="Location" hint="An address, or a video call link" error={errors.location?.message} {...register("location")} />
        {admin && creating && (
          <Select label="Host" error={errors.owner?.message} {...register("owner")}>
            <option value="">Choose a provider or a team</option>
            <optgroup label="Providers">
              {providers.map((user) => (
                <option key={user.id} value={`provider:${user.providerId}`}>
                  {user.displayName}
                </option>
              ))}
            </optgroup>
            <optgroup label="Teams">
              {(teams.data?.items ?? []).map((team) => (
                <option key={team.id} value={`team:${team.id}`}>
                  {team.name}
                </option>
              ))}
            </optgroup>
          </Select>
        )}
      </fieldset>
      <fieldset>
        <legend>When</legend>
        <Select label="Time zone" error={errors.timeZone?.message} {...register("timeZone")}>
          {zones.map((zone) => (
            <option key={zone} value={zone}>
              {zone.replace(/_/g, " ")}
            </option>
          ))}
        </Select>
        <div className="weekly">
          <p className="label">Weekly hours</p>
          {hours.fields.map((field, index) => (
            <div className="row hours" key={field.id}>
              <Select label={`Day ${index + 1}`} {...register(`weeklyHours.${index}.weekday`)}>
                {WEEKDAYS.map((day) => (
                  <option key={day} value={day}>
                    {day[0]!.toUpperCase() + day.slice(1)}
                  </option>
                ))}
              </Select>
              <TextInput label="From" type="time" error={errors.weeklyHours?.[index]?.from?.message} {...register(`weeklyHours.${index}.from`)} />
              <TextInput label="To" type="time" error={errors.weeklyHours?.[index]?.to?.message} {...register(`weeklyHours.${index}.to`)} />
              <Button variant="secondary" onClick={() => hours.remove(index)} aria-label={`Remove day ${index + 1}`}>
                Remove
              </Button>
            </div>
          ))}
          <Button variant="secondary" onClick={() => hours.append({ weekday: "saturday", from: "10:00", to: "14:00" })}>
            Add hours
          </Button>
        </div>
        <TextInput label="Days off" hint="YYYY-MM-DD, separated by commas" error={errors.dateExceptions?.message} {...register("dateExceptions")} />
      </fieldset>
      <fieldset>
        <legend>Rules</legend>
        <div className="grid three">
          <TextInput label="Length (minutes)" type="number" min={5} max={480} error={errors.periodMinutes?.message} {...register("periodMinutes")} />
          <TextInput label="Places per slot" type="number" min={1} max={1000} error={errors.capacity?.message} {...register("capacity")} />
          <TextInput label="Minimum notice (minutes)" type="number" min={0} error={errors.minimumNoticeMinutes?.message} {...register("minimumNoticeMinutes")} />
          <TextInput label="Buffer before (minutes)" type="number" min={0} max={480} error={errors.bufferBeforeMinutes?.message} {...register("bufferBeforeMinutes")} />
          <TextInput label="Buffer after (minutes)" type="number" min={0} max={480} error={errors.bufferAfterMinutes?.message} {...register("bufferAfterMinutes")} />
          <TextInput label="Booking horizon (days)" type="number" min={1} max={730} error={errors.bookingHorizonDays?.message} {...register("bookingHorizonDays")} />
        </div>
        <TextInput label="Custom link (optional)" hint="e.g. yoga-tuesdays: /book/yoga-tuesdays" error={errors.customSlug?.message} {...register("customSlug")} />
      </fieldset>
      {save.isError && !(save.error instanceof ApiError && save.error.code === "VALIDATION_FAILED") && (
        <ErrorMessage error={save.error} title="Not saved." />
      )}
      {save.error instanceof ApiError && save.error.code === "VALIDATION_FAILED" && (
        <ErrorMessage error={save.error} title="Check the fields:" />
      )}
      <Button type="submit" busy={save.isPending}>
        {creating ? "Create event type" : "Save changes"}
      </Button>
    </form>
  );
}
