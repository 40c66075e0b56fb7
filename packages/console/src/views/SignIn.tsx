import { useState } from "react";
import { Berth, BerthError } from "berth-client";
import { setToken } from "../auth.js";

export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <main className="signin">
      <h1>berth console</h1>
      <p>Paste the API token (<code>BERTH_TOKEN</code>, or the one <code>berth serve</code> printed and saved in <code>$BERTH_HOME/token</code>). It stays in this tab only.</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await Berth.connect({ baseUrl: location.origin, token: value.trim() }).sessions({ limit: 1 });
            setToken(value);
            onSignedIn();
          } catch (err) {
            setError(err instanceof BerthError && err.status === 401 ? "The server refused this token." : `Could not reach berth: ${(err as Error).message}`);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="token">API token</label>
        <input id="token" type="password" autoComplete="off" required value={value} onChange={(e) => setValue(e.target.value)} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
