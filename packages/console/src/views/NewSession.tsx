import { useEffect, useState } from "react";
import type { Berth, CreateSessionRequest, Harness, Provider } from "berth-client";
import { navigate } from "../router.js";

const TIERS = [
  ["process", "T1 process (bubblewrap)"],
  ["container", "T2 container"],
  ["privileged", "T3 privileged container"],
  ["host-access", "T4 host network"],
  ["host", "T0 host (development only)"],
] as const;

export function NewSession({ berth }: { berth: Berth }) {
  const [harnesses, setHarnesses] = useState<Harness[]>([]);
  const [providers, setProviders] = useState<Provider[]>([]);
  const [form, setForm] = useState({ harness: "pi", model: "", tier: "process", workspace: "", permissionPolicy: "allow", maxTokens: "", network: "" });
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    berth.harnesses().then(setHarnesses, (e: Error) => setError(e.message));
    berth.providers().then(setProviders, () => {});
  }, [berth]);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const harness = harnesses.find((h) => h.id === form.harness);
  const route = form.model ? providers.find((p) => !p.explicitOnly && p.models.some((m) => m === form.model || (m.endsWith("*") && form.model.startsWith(m.slice(0, -1))))) : undefined;
  return (
    <section aria-labelledby="new-h">
      <h1 id="new-h">New session</h1>
      <form
        className="form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          const req: CreateSessionRequest = {
            harness: form.harness,
            tier: form.tier,
            permissionPolicy: form.permissionPolicy as CreateSessionRequest["permissionPolicy"],
            ...(form.model ? { model: form.model } : {}),
            ...(form.workspace ? { workspace: form.workspace } : {}),
            ...(form.maxTokens ? { budget: { maxTokens: Number(form.maxTokens) } } : {}),
            ...(form.network.trim() ? { network: { allow: form.network.split(/[\s,]+/).filter(Boolean) } } : {}),
          };
          try {
            const s = await berth.createSession(req);
            navigate({ page: "session", id: s.id });
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="harness">Harness</label>
        <select id="harness" value={form.harness} onChange={set("harness")}>
          {harnesses.map((h) => (
            <option key={h.id} value={h.id}>
              {h.name} {h.version} — {h.license}
              {h.installed ? "" : " (installed on first use)"}
            </option>
          ))}
        </select>
        {harness && (
          <p className="hint">
            {harness.redistributable ? "Redistributable" : "Proprietary: installed at run time from its vendor, never baked"} ·{" "}
            {harness.asksPermission ? "asks before tools that change things" : "never asks: only the allow policy applies"}
          </p>
        )}

        <label htmlFor="model">Model</label>
        <input id="model" list="models" placeholder="the server's default model" value={form.model} onChange={set("model")} />
        <datalist id="models">
          {providers.flatMap((p) => p.models.filter((m) => !m.includes("*")).map((m) => <option key={`${p.id}/${m}`} value={m} />))}
        </datalist>
        {form.model && (
          <p className="hint" aria-live="polite">
            {route ? `Routes through ${route.id} (${route.api}, from ${route.source}); its secret is ${route.secretPresent ? "present" : "missing"}.` : "No provider route serves this model; the server will refuse it."}
          </p>
        )}

        <label htmlFor="tier">Tier</label>
        <select id="tier" value={form.tier} onChange={set("tier")}>
          {TIERS.map(([id, label]) => (
            <option key={id} value={id}>
              {label}
            </option>
          ))}
        </select>

        <label htmlFor="workspace">Workspace</label>
        <input id="workspace" placeholder="a fresh one (or a directory under the server's workspace roots)" value={form.workspace} onChange={set("workspace")} />

        <label htmlFor="policy">Permission policy</label>
        <select id="policy" value={form.permissionPolicy} onChange={set("permissionPolicy")}>
          <option value="allow">allow</option>
          <option value="ask">ask (answer here)</option>
          <option value="deny">deny</option>
        </select>

        <label htmlFor="budget">Token budget</label>
        <input id="budget" type="number" min={1} placeholder="none" value={form.maxTokens} onChange={set("maxTokens")} />

        <label htmlFor="network">Network allowlist</label>
        <input id="network" placeholder="hosts the agent may reach, e.g. registry.npmjs.org, *.example.com:443" value={form.network} onChange={set("network")} />

        <div className="row">
          <button type="submit" className="primary" disabled={busy}>
            Create session
          </button>
        </div>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
