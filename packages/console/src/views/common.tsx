import { useEffect, useState } from "react";

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge state-${state}`}>{state}</span>;
}

export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Calls `load` now and every `ms` while mounted; the latest result, or the error. */
export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[] = []): { data?: T; error?: string } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const data = await load();
        if (!stop) setState({ data });
      } catch (e) {
        if (!stop) setState((s) => ({ ...s, error: (e as Error).message }));
      }
      if (!stop) timer = setTimeout(tick, ms);
    };
    void tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, deps);
  return state;
}

/** Long output shown cut, with a button for the rest. */
export function Clipped({ text, limit = 2000 }: { text: string; limit?: number }) {
  const [all, setAll] = useState(false);
  if (text.length <= limit || all) return <pre>{text}</pre>;
  return (
    <>
      <pre>{text.slice(0, limit)}…</pre>
      <button type="button" className="quiet" onClick={() => setAll(true)}>
        Show all ({text.length.toLocaleString()} characters)
      </button>
    </>
  );
}

export const asText = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v, null, 2));

/** A table's header row. */
export function Head({ cols }: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th key={c}>{c}</th>
        ))}
      </tr>
    </thead>
  );
}
