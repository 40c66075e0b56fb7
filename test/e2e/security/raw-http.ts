import { connect, type Socket } from "node:net";

// Raw HTTP/1.1 over a socket: the attacks here send what fetch() refuses to (bad Host,
// partial headers, huge request lines, bytes a few at a time).

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The whole bytes received, for "nothing leaked" checks. */
  raw: string;
}

export function parseRaw(all: string): RawResponse {
  // Skip interim responses (100 Continue); read the final one.
  let raw = all;
  while (/^HTTP\/1\.[01] 1\d\d /.test(raw) && raw.includes("\r\n\r\n")) raw = raw.slice(raw.indexOf("\r\n\r\n") + 4);
  const end = raw.indexOf("\r\n\r\n");
  const head = end >= 0 ? raw.slice(0, end) : raw;
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = end >= 0 ? raw.slice(end + 4) : "";
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) body = unchunk(body);
  else if (headers["content-length"] !== undefined) body = body.slice(0, Number(headers["content-length"]));
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body, raw: all };
}

function unchunk(s: string): string {
  let out = "";
  for (let i = 0; ; ) {
    const nl = s.indexOf("\r\n", i);
    if (nl < 0) return out;
    const n = parseInt(s.slice(i, nl), 16);
    if (!n) return out;
    out += s.slice(nl + 2, nl + 2 + n);
    i = nl + 2 + n + 2;
  }
}

const hostPort = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port) };
};

/** Sends `request` as is and reads until the server closes the socket (send Connection: close). */
export function rawRequest(url: string, request: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = connect(hostPort(url));
    const chunks: Buffer[] = [];
    s.on("connect", () => s.write(request));
    s.on("data", (d) => chunks.push(d));
    // The server may answer and close before the whole request is written (413, 431).
    s.on("error", (e) => (["ECONNRESET", "EPIPE"].includes((e as NodeJS.ErrnoException).code ?? "") ? undefined : reject(e)));
    s.on("close", () => resolve(parseRaw(Buffer.concat(chunks).toString("latin1"))));
  });
}

export interface HeldSocket {
  socket: Socket;
  /** Resolves when the server closes the socket, with what it sent first. */
  closed: Promise<RawResponse>;
  /** True while the socket is open. */
  open(): boolean;
}

/** Opens a socket, writes `start`, then `drip` every `everyMs` (a slow client), never finishing. */
export function holdSocket(url: string, start = "", drip?: { text: string; everyMs: number }): Promise<HeldSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect(hostPort(url));
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let isOpen = true;
    const closed = new Promise<RawResponse>((res) =>
      socket.on("close", () => {
        isOpen = false;
        clearInterval(timer);
        res(parseRaw(Buffer.concat(chunks).toString("latin1")));
      }),
    );
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", () => undefined);
    socket.once("connect", () => {
      if (start) socket.write(start);
      if (drip) timer = setInterval(() => socket.writable && socket.write(drip.text), drip.everyMs);
      resolve({ socket, closed, open: () => isOpen });
    });
    socket.once("error", reject);
  });
}
