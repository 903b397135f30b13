/** Teams of providers: create, delete, add and remove members. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { addTeamMember, createTeam, deleteTeam, listTeams, listUsers, removeTeamMember } from "../../api/endpoints";
import type { Team, User } from "../../api/types";
import { Button, ErrorMessage, Loading, Select, TextInput } from "../../components/ui";
import { useDocumentTitle } from "../../lib/title";

export function TeamsPage() {
  const queryClient = useQueryClient();
  const teams = useQuery({ queryKey: ["teams"], queryFn: listTeams });
  const users = useQuery({ queryKey: ["users"], queryFn: listUsers });
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () => createTeam(name.trim()),
    onSuccess: () => {
      setName("");
      void queryClient.invalidateQueries({ queryKey: ["teams"] });
    },
  });
  useDocumentTitle("Teams");
  const providers = (users.data?.items ?? []).filter((user) => user.providerId);
  return (
    <>
      <h1>Teams</h1>
      <form
        className="card row"
        onSubmit={(event: FormEvent) => {
          event.preventDefault();
          create.mutate();
        }}
      >
        <TextInput label="New team" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
        <Button type="submit" busy={create.isPending} disabled={!name.trim()}>
          Create team
        </Button>
        <ErrorMessage error={create.error} />
      </form>
      {teams.isPending ? (
        <Loading />
      ) : teams.isError ? (
        <ErrorMessage error={teams.error} />
      ) : teams.data.items.length === 0 ? (
        <p>No teams yet.</p>
      ) : (
        teams.data.items.map((team) => <TeamCard key={team.id} team={team} providers={providers} />)
      )}
    </>
  );
}

function TeamCard({ team, providers }: { team: Team; providers: User[] }) {
  const queryClient = useQueryClient();
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["teams"] });
  const [pick, setPick] = useState("");
  const add = useMutation({ mutationFn: () => addTeamMember(team.id, pick), onSuccess: () => { setPick(""); refresh(); } });
  const remove = useMutation({ mutationFn: (providerId: string) => removeTeamMember(team.id, providerId), onSuccess: refresh });
  const drop = useMutation({ mutationFn: () => deleteTeam(team.id), onSuccess: refresh });
  const nameOf = (providerId: string) => providers.find((user) => user.providerId === providerId)?.displayName ?? providerId;
  const candidates = providers.filter((user) => !team.memberIds.includes(user.providerId!));
  return (
    <section className="card" aria-labelledby={`team-${team.id}`}>
      <div className="row spread">
        <h2 id={`team-${team.id}`}>{team.name}</h2>
        <Button variant="danger" busy={drop.isPending} onClick={() => drop.mutate()}>
          Delete team
        </Button>
      </div>
      <ErrorMessage error={drop.error ?? remove.error ?? add.error} />
      <ul className="members">
        {team.memberIds.length === 0 && <li className="hint">No members yet.</li>}
        {team.memberIds.map((providerId) => (
          <li key={providerId}>
            {nameOf(providerId)}{" "}
            <Button variant="link" onClick={() => remove.mutate(providerId)} aria-label={`Remove ${nameOf(providerId)} from ${team.name}`}>
              Remove
            </Button>
          </li>
        ))}
      </ul>
      <div className="row">
        <Select label={`Add a provider to ${team.name}`} value={pick} onChange={(e) => setPick(e.target.value)}>
          <option value="">Choose…</option>
          {candidates.map((user) => (
            <option key={user.id} value={user.providerId!}>
              {user.displayName}
            </option>
          ))}
        </Select>
        <Button busy={add.isPending} disabled={!pick} onClick={() => add.mutate()}>
          Add member
        </Button>
      </div>
    </section>
  );
}
