import { useMemo, useState } from "react";
import type { Berth, SessionInfo } from "berth-client";
import { href, navigate } from "../router.js";
import { age, StateBadge, usePoll, Head } from "./common.js";

export function Sessions({ berth }: { berth: Berth }) {
  const { data, error } = usePoll(async () => (await berth.sessions({ limit: 200 })).map((s) => s.info), 2000);
  const [state, setState] = useState("");
  const [harness, setHarness] = useState("");
  const sessions = useMemo(() => (data ?? []).filter((s) => (!state || s.state === state) && (!harness || s.harness === harness)), [data, state, harness]);
  const harnesses = [...new Set((data ?? []).map((s) => s.harness))].sort();
  return (
    <section aria-labelledby="sessions-h">
      <div className="row">
        <h1 id="sessions-h">Sessions</h1>
        <span className="spacer" />
        <label>
          State{" "}
          <select aria-label="Filter by state" value={state} onChange={(e) => setState(e.target.value)}>
            <option value="">all</option>
            {["starting", "ready", "running", "interrupted", "failed", "ended"].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Harness{" "}
          <select aria-label="Filter by harness" value={harness} onChange={(e) => setHarness(e.target.value)}>
            <option value="">all</option>
            {harnesses.map((h) => (
              <option key={h}>{h}</option>
            ))}
          </select>
        </label>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      {data && sessions.length === 0 && <p className="muted">No sessions{state || harness ? " match" : " yet"}.</p>}
      {sessions.length > 0 && (
        <div className="table-wrap">
          <table>
            <Head cols={["Session", "State", "Harness", "Model", "Tier", "Age", "Turns", "Spent"]} />
            <tbody>
              {sessions.map((s) => (
                <Row key={s.id} s={s} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Row({ s }: { s: SessionInfo }) {
  const cap = s.budget?.maxTokens ? ` of ${s.budget.maxTokens.toLocaleString()}` : "";
  const costCap = s.budget?.maxCostUsd ? ` of $${s.budget.maxCostUsd}` : "";
  const spent = `${s.spent.tokens.toLocaleString()} tokens${cap}${s.spent.costUsd || costCap ? ` · $${s.spent.costUsd.toFixed(4)}${costCap}` : ""}`;
  return (
    <tr>
      <td>
        <a
          href={href({ page: "session", id: s.id })}
          onClick={(e) => {
            e.preventDefault();
            navigate({ page: "session", id: s.id });
          }}
        >
          <code>{s.id}</code>
        </a>
      </td>
      <td>
        <StateBadge state={s.state} />
        {s.waitingForPermission > 0 && (
          <span className="badge warn" title="Waiting for a permission answer">
            needs permission
          </span>
        )}
      </td>
      <td>
        {s.harness} <span className="muted">{s.harnessVersion}</span>
      </td>
      <td>
        {s.model}
        {s.provider && <span className="muted"> via {s.provider}</span>}
      </td>
      <td>{s.tier}</td>
      <td title={s.createdAt}>{age(s.createdAt)}</td>
      <td>{s.turns}</td>
      <td>{spent}</td>
    </tr>
  );
}
