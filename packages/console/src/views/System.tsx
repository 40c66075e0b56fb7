import type { Berth } from "berth-client";
import { usePoll, Head } from "./common.js";

export function System({ berth }: { berth: Berth }) {
  const harnesses = usePoll(() => berth.harnesses(), 30_000);
  const providers = usePoll(() => berth.providers(), 30_000);
  const conformance = usePoll(() => berth.conformance(), 10_000);
  return (
    <>
      <section aria-labelledby="harnesses-h">
        <h1 id="harnesses-h">Harnesses</h1>
        <div className="table-wrap">
          <table>
            <Head cols={["Harness", "Version", "License", "Installed", "Asks permission", "Capabilities (from ACP)"]} />
            <tbody>
              {(harnesses.data ?? []).map((h) => (
                <tr key={h.id}>
                  <td>
                    {h.name} <code>{h.id}</code>
                  </td>
                  <td>{h.version}</td>
                  <td>
                    {h.license} {h.redistributable ? "" : <span className="badge warn">not redistributable</span>}
                  </td>
                  <td>{h.installed ? "yes" : "on first use"}</td>
                  <td>{h.asksPermission ? "yes" : "no"}</td>
                  <td>
                    {h.capabilities
                      ? [h.capabilities.loadSession && "session/load", h.capabilities.mcp.http && "MCP http", h.capabilities.prompt.image && "images"].filter(Boolean).join(", ") || "—"
                      : "not run yet"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="providers-h">
        <h2 id="providers-h">Provider routes</h2>
        <div className="table-wrap">
          <table>
            <Head cols={["Provider", "API", "Models", "Secret", "From"]} />
            <tbody>
              {(providers.data ?? []).map((p) => (
                <tr key={p.id}>
                  <td>
                    <code>{p.id}</code>
                    {p.explicitOnly ? <span className="muted"> (when named)</span> : null}
                  </td>
                  <td>{p.api}</td>
                  <td>{p.models.join(", ")}</td>
                  <td>{p.secret ? <span className={p.secretPresent ? "ok" : "bad"}>{`${p.secret}: ${p.secretPresent ? "present" : "missing"}`}</span> : "none needed"}</td>
                  <td>
                    <code>{p.source}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="conformance-h">
        <h2 id="conformance-h">Conformance</h2>
        <p className="muted">
          The isolation contract each tier proved on a live sandbox, from the latest <code>berth conformance</code> on this server's home.
        </p>
        {conformance.data?.length === 0 && <p>No run yet: <code>berth conformance</code> records one per tier.</p>}
        {(conformance.data ?? []).map((r) => (
          <div key={r.tier} className="table-wrap">
            <table aria-label={`Conformance of tier ${r.tier}`}>
              <caption>
                {r.tier} ({r.driver}) · {new Date(r.ranAt).toLocaleString()} · {r.error ? <span className="bad">{r.error}</span> : r.results.every((x) => x.ok) ? <span className="ok">all probes pass</span> : <span className="bad">{r.results.filter((x) => !x.ok).length} failing</span>}
              </caption>
              <Head cols={["Probe", "Expected", "Observed", "Result"]} />
              <tbody>
                {r.results.map((x) => (
                  <tr key={x.probe}>
                    <td>
                      <code>{x.probe}</code>
                    </td>
                    <td>{x.expected}</td>
                    <td>{x.observed}</td>
                    <td className={x.ok ? "ok" : "bad"}>{x.ok ? "ok" : "FAIL"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      </section>
    </>
  );
}
