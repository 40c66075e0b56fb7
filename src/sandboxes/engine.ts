// The container engine berth talks to (Docker, or Podman's Docker-compatible API): where it
// is, and one client for it. The OCI sandbox driver and `berth image check` both use these.
import http from "node:http";
import { isAbsolute } from "node:path";
import type { Duplex } from "node:stream";
import type Dockerode from "dockerode";
import { SandboxUnavailableError } from "./types.js";

/** Where scripts/podman-setup.sh starts Podman's Docker-compatible API. */
export const DEFAULT_ENGINE_SOCKET = "/run/berth/podman.sock";

/** Each engine's usual API socket. */
export const ENGINE_SOCKETS = { podman: `unix://${DEFAULT_ENGINE_SOCKET}`, docker: "unix:///var/run/docker.sock" } as const;

/** Where the operator says the engine is (config/env.ts). */
export interface EngineEnv {
  BERTH_DOCKER_HOST?: string;
  DOCKER_HOST?: string;
}

/** The engine the operator named (BERTH_DOCKER_HOST, else DOCKER_HOST), if any. */
export function namedEngine(env: EngineEnv): string | undefined {
  return env.BERTH_DOCKER_HOST || env.DOCKER_HOST || undefined;
}

/** The engine to talk to: the one named, else berth's Podman socket. */
export function engineHost(env: EngineEnv): string {
  return namedEngine(env) ?? DEFAULT_ENGINE_SOCKET;
}

/** How to reach an engine address: a unix socket path, `unix://PATH`, or `tcp://HOST:PORT`. */
export function connectOptions(host: string): Dockerode.DockerOptions {
  if (host.startsWith("unix://")) return { socketPath: host.slice("unix://".length) };
  if (host.startsWith("tcp://") || host.startsWith("http://")) {
    const u = new URL(host.replace(/^tcp:/, "http:"));
    return { protocol: "http", host: u.hostname, port: Number(u.port || 2375) };
  }
  if (isAbsolute(host)) return { socketPath: host };
  throw new SandboxUnavailableError(`unsupported engine address ${host}: use a unix socket path, unix://PATH or tcp://HOST:PORT`);
}

/** A client for the engine; dockerode loads ~0.5 s of modules, so it is imported on first use. */
export async function engineClient(host: string): Promise<Dockerode> {
  const { default: Docker } = await import("dockerode");
  return new Docker(connectOptions(host));
}

/**
 * Attaches to a container's stdio: an HTTP upgrade to a raw, multiplexed stream, as the
 * docker CLI does. (Not dockerode's attach, which sends its options, or a chunked
 * terminator, as a request body that the engine hands to the harness as stdin.)
 */
export function attachStdio(host: string, id: string): Promise<Duplex> {
  const o = connectOptions(host);
  return new Promise((res, rej) => {
    const req = http.request({
      ...(o.socketPath ? { socketPath: o.socketPath } : { host: o.host as string, port: o.port }),
      method: "POST",
      path: `/containers/${encodeURIComponent(id)}/attach?stream=1&stdin=1&stdout=1&stderr=1`,
      headers: { Connection: "Upgrade", Upgrade: "tcp", "Content-Length": "0" },
    });
    req.once("upgrade", (_r, sock, head) => {
      if (head.length) sock.unshift(head);
      res(sock);
    });
    req.once("response", (r) => {
      let body = "";
      r.on("data", (d) => (body += d));
      r.on("end", () => rej(new Error(`attach answered HTTP ${r.statusCode}: ${body.trim()}`)));
    });
    req.once("error", rej);
    req.end();
  });
}
