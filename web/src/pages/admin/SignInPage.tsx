import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { signIn } from "../../api/client";
import { Button, ErrorMessage, TextInput } from "../../components/ui";
import { useDocumentTitle } from "../../lib/title";

export function SignInPage() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const next = params.get("next");
  const login = useMutation({
    mutationFn: () => signIn(email.trim(), password),
    onSuccess: () => void navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/dashboard"),
  });
  useDocumentTitle("Sign in");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate();
  };
  return (
    <main className="page narrow">
      <section className="card" aria-labelledby="sign-in-heading">
        <h1 id="sign-in-heading">Sign in</h1>
        <p>For staff: admins and providers of an organisation.</p>
        <form onSubmit={submit}>
          <TextInput label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
          <TextInput
            label="Password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <ErrorMessage error={login.error} />
          <Button type="submit" busy={login.isPending}>
            Sign in
          </Button>
        </form>
      </section>
    </main>
  );
}
