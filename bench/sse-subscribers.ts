// Child process for bench/events.ts: N SSE subscribers (fetch) on one berth session,
// each counting contiguous seqs until it has `expected` events. Reconnects with
// Last-Event-ID when the server cuts a slow subscriber off, as a real client would.
// Protocol on stdout, one JSON object a line: {"connected":true} once every subscriber
// has its response headers (so it is registered server-side), then {"done":true,...}.
import { performance } from "node:perf_hooks";

const [url, token, sessionId, nStr, expectedStr] = process.argv.slice(2);
const n = Number(nStr);
const expected = Number(expectedStr);
if (!url || !token || !sessionId || !(n > 0) || !(expected > 0)) {
  process.stderr.write("usage: sse-subscribers.ts <url> <token> <sessionId> <subscribers> <expected>\n");
  process.exit(2);
}

const send = (o: object) => process.stdout.write(JSON.stringify(o) + "\n");
let connected = 0;
const stats = { reconnects: 0, bytes: 0, events: 0, errors: [] as string[] };
const cpu0 = process.cpuUsage();

async function subscriber(): Promise<number> {
  let last = 0;
  let first = true;
  while (last < expected) {
    const res = await fetch(`${url}/v1/sessions/${sessionId}/events`, {
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream", "last-event-id": String(last) },
    });
    if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    if (first) {
      first = false;
      if (++connected === n) send({ connected: true });
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stats.bytes += value.byteLength;
      buf += decoder.decode(value, { stream: true });
      let start = 0;
      for (let end = buf.indexOf("\n\n"); end !== -1; end = buf.indexOf("\n\n", start)) {
        if (buf.startsWith("id: ", start)) {
          const seq = Number(buf.slice(start + 4, buf.indexOf("\n", start)));
          if (seq === last + 1) {
            last = seq;
            stats.events++;
          } else if (seq > last + 1) {
            stats.errors.push(`gap: expected ${last + 1}, got ${seq}`);
            last = seq;
          } // seq <= last: a duplicate after a reconnect; never expected, skipped
        }
        start = end + 2;
      }
      buf = buf.slice(start);
      if (last >= expected) {
        await reader.cancel();
        break;
      }
    }
    if (last < expected) stats.reconnects++;
  }
  return performance.timeOrigin + performance.now();
}

const finished = await Promise.all(Array.from({ length: n }, () => subscriber()));
const cpu = process.cpuUsage(cpu0);
send({ done: true, lastAt: Math.max(...finished), cpuMs: (cpu.user + cpu.system) / 1000, ...stats });
process.exit(0);
