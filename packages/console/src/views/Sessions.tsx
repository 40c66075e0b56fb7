import { useMemo, useState } from "react";
import type { Berth, SessionInfo } from "berth-client";
import { href, navigate } from "../router.js";
import { age, StateBadge, usePoll, Head } from "./common.js";

/** Sessions shown at first, and added by each "Show more" (the API's page holds at most 1000). */
const PAGE = 200;
const MAX_PAGE = 1000;

export function Sessions({ berth }: { berth: Berth }) {
  const [state, setState] = useState("");
  const [harness, setHarness] = useState("");
  const [limit, setLimit] = useState(PAGE);
  // The state filter is the server's, so it finds sessions beyond the first page.
  const { data: page, error } = usePoll(
    async () => {
      const p = await berth.sessionPage({ limit, ...(state ? { state: state as SessionInfo["state"] } : {}) });
      return { sessions: p.sessions.map((s) => s.info), more: p.nextCursor !== undefined };
    },
    2000,
    [limit, state],
  );
  const data = page?.sessions;
  const sessions = useMemo(() => (data ?? []).filter((s) => !harness || s.harness === harness), [data, harness]);
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
      {page?.more &&
        (limit < MAX_PAGE ? (
          <button type="button" onClick={() => setLimit(Math.min(limit + PAGE, MAX_PAGE))}>
            Show more
          </button>
        ) : (
          <p className="muted">
            Older sessions: <code>berth sessions ls --all</code>, or the API&apos;s <code>nextCursor</code>.
          </p>
        ))}
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
