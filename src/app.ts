import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { FrontDoor } from "./api/front-door.js";
import type { Logger } from "pino";
import { httpLimits } from "./api/http-limits.js";
import { exposureWarning, hostAllowlist, parseAllowedHosts } from "./api/host-check.js";
import { buildApi } from "./api/server.js";
import { loadConfig, resolveApiToken, type BerthConfig } from "./config/config.js";
import { EventLog } from "./events/log.js";
import { ModelGateway } from "./gateway/gateway.js";
import { defaultModelFromEnv } from "./gateway/default-model.js";
import { GitCredentialService } from "./secrets/git-credentials.js";
import { loadGitCredentials } from "./secrets/git-credentials-file.js";
import { ProviderRegistry, type LoadOptions as ProviderOptions } from "./providers/registry.js";
import { HarnessInstaller } from "./harnesses/installer.js";
import { startMockProvider, loadMockScript, type MockProvider } from "./mock/index.js";
import { BwrapDriver } from "./sandboxes/bwrap.js";
import { HostDriver } from "./sandboxes/host.js";
import { readReports } from "./sandboxes/conformance-record.js";
import { SandboxDrivers } from "./sandboxes/index.js";
import { OciDriver } from "./sandboxes/oci.js";
import { redactor } from "./secrets/redact.js";
import { SessionManager } from "./sessions/manager.js";
import { removePoolLeftovers } from "./sessions/pool.js";
import { Retention } from "./sessions/retention.js";
import { loadPoolSettings } from "./sessions/pool-config.js";
import { workspacePolicy } from "./sessions/workspace.js";
import { databasePassword, openStore, type BerthStore } from "./store/open.js";
import { createLogger } from "./telemetry/logger.js";
import { createMetrics } from "./telemetry/metrics.js";
import { createTracing } from "./telemetry/tracing.js";
import { IdleCollector } from "./util/idle-gc.js";
import { PACKAGE_ROOT } from "./util/package-root.js";
import { runDir } from "./util/home.js";
import type { ClusterNode } from "./cluster/node.js";
import { VERSION } from "./version.js";

export { VERSION };

export interface BerthServer {
  config: BerthConfig;
  api: FastifyInstance<any, any, any, any, any>;
  url: string;
  apiToken: string;
  tokenCreated: boolean;
  /** Set when the API is reachable off this machine without TLS in front: say so loudly. */
  exposure?: string;
  /** berth's own scripted mock model (serves mock-* models). */
  mock: MockProvider;
  providers: ProviderRegistry;
  /** True when no provider key is configured and the default model is berth's mock. */
  usingMock: boolean;
  defaultModel: string;
  manager: SessionManager;
  store: BerthStore;
  /** The durable event log (what the SSE route follows). */
  events: EventLog;
  /** Whether the web console is served at /ui/ (a build of it is in dist/console). */
  consoleServed: boolean;
  /** Settles when the previous run's sandboxes are reaped and its sessions marked interrupted (after listening). */
  recovered: Promise<void>;
  gateway: ModelGateway;
  logger: Logger;
  close(): Promise<void>;
}

export interface StartOptions {
  config?: Partial<BerthConfig>;
  /** The configuration already loaded (the CLI loads it to open the front door); else loaded from `config` and `env`. */
  loaded?: BerthConfig;
  /** A socket that already listens (api/front-door.ts): the API takes it over instead of listening itself. */
  frontDoor?: FrontDoor;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Instead of /etc/berth/providers.yaml (tests). */
  providersSystemFile?: string;
  /** Instead of /etc/berth/git-credentials.yaml (tests). */
  gitCredentialsSystemFile?: string;
}

/** Composition root: store → event log → gateway → sessions → HTTP API. */
export async function startServer(opts: StartOptions = {}): Promise<BerthServer> {
  const env = opts.env ?? process.env;
  const config = opts.loaded ?? loadConfig(opts.config, env);
  // A broken git credentials file stops the server before anything is started.
  // Warm pool declarations: a bad one stops the server here (the pools are checked against harnesses, tiers and providers below).
  const pools = loadPoolSettings(config.env, config.defaultTier);
  const gitConfig = loadGitCredentials({ env, file: config.env.BERTH_GIT_CREDENTIALS, ...(opts.gitCredentialsSystemFile ? { systemFile: opts.gitCredentialsSystemFile } : {}) });
  const logger = opts.logger ?? createLogger(redactor, { level: config.env.BERTH_LOG_LEVEL });
  const { token: apiToken, created: tokenCreated } = resolveApiToken(config.home, env);
  const apiLimits = httpLimits(config.env);
  const hostAllowed = hostAllowlist(config.host, parseAllowedHosts(config.env.BERTH_ALLOWED_HOSTS));
  redactor.add(apiToken);

  prepareHome(config.home);
  // A bad workspace root stops the server here, before anything is started.
  const workspaces = workspacePolicy({ roots: config.workspaceRoots, exact: config.exactWorkspaces, home: config.home, harnessCache: config.harnessCache });
  const dbPassword = config.env.BERTH_DATABASE_URL ? databasePassword(config.env.BERTH_DATABASE_URL) : undefined;
  if (dbPassword) redactor.add(dbPassword);
  const { store, shared } = await openStore(config, logger);
  const events = new EventLog(store, redactor, { onCommitError: (e, attempt, dropped) => logger.error({ err: e.message, attempt, dropped }, dropped ? "events could not be stored and were dropped" : "storing events failed; retrying") });
  // OTLP traces per the standard OTEL_* variables (off without an endpoint); Prometheus metrics.
  const tracing = await createTracing({ env, redactor, serviceVersion: VERSION, logger });
  const poolStatus: { read?: () => { name: string; ready: number; starting: number }[] } = {};
  const metrics = createMetrics({ version: VERSION, sessionsByState: () => store.sessionCountsByState(), poolStatus: () => poolStatus.read?.() ?? [] });
  const installer = new HarnessInstaller(config.harnessCache);
  // Containers are labelled with this berth's home, so servers sharing one engine reap only their own.
  // Nodes sharing one home (a shared filesystem) each reap only their own sandboxes: the owner names the node too.
  const owner = shared ? `${config.home}#${config.nodeId}` : config.home;
  const run = runDir(config.home, shared ? config.nodeId : undefined);
  mkdirSync(run, { recursive: true });
  chmodSync(run, 0o711);
  const bwrap = new BwrapDriver({ owner, t1: config.env });
  if (bwrap.cgroupsOff) logger.warn("BERTH_T1_CGROUPS=off: T1 sandboxes run without per-sandbox pids/memory/CPU limits, so one sandbox can starve the others");
  const drivers = new SandboxDrivers([new HostDriver(), bwrap, new OciDriver({ owner, settings: config.env, usedMarker: join(run, "oci-used") })]);

  // berth's scripted mock model always runs (loopback, cheap) and serves mock-* models;
  // with no provider key configured it is also the default model, and berth says so.
  const { defaultModel, useMock } = defaultModelFromEnv(env, config.env.BERTH_MODEL);
  const script = config.env.BERTH_MOCK_SCRIPT ? loadMockScript(config.env.BERTH_MOCK_SCRIPT) : undefined;
  const mock = await startMockProvider({ script, logger });
  const providerOpts: ProviderOptions = {
    env,
    mockUrl: mock.url,
    allowWorkspace: config.env.BERTH_ALLOW_WORKSPACE_PROVIDERS ?? false,
    ...(opts.providersSystemFile ? { systemFile: opts.providersSystemFile } : {}),
  };
  // A broken operator file stops the server here, loudly, rather than at the first session.
  const providers = ProviderRegistry.load(providerOpts);
  for (const v of providers.valuesForRedaction()) redactor.add(v);

  // Git credentials for sandboxes (docs/git-credentials.md).
  const gitCredentials = new GitCredentialService({
    config: gitConfig,
    env,
    redactor,
    allowedHosts: async (sessionId) => (await store.getSession(sessionId))?.settings.gitHosts,
    onDecision: (d) => logger.info({ sessionId: d.sessionId, git: d }, `git credential ${d.outcome}`),
  });
  const gateway = new ModelGateway({
    host: config.gatewayHost,
    port: config.gatewayPort,
    socketPath: join(run, "gateway.sock"),
    redactor,
    tracing,
    metrics,
    internal: (req, res, sessionId) => gitCredentials.serve(req, res, sessionId),
    maxRequestBytes: config.gatewayMaxRequestBytes,
  });
  await gateway.start();
  // The API's port is known once it listens (below); sessions only start after that.
  const listening: { endpoint?: { host: string; port: number } } = {};
  const mockUrl = new URL(mock.url);
  const ownEndpoints = () => [
    ...(listening.endpoint ? [listening.endpoint] : []),
    { host: config.gatewayHost, port: gateway.port },
    { host: mockUrl.hostname.replace(/^\[|\]$/g, ""), port: Number(mockUrl.port) },
  ];
  const idleGc = new IdleCollector(config.env.BERTH_IDLE_GC_MS ?? 10_000);
  const manager = new SessionManager({ config, workspaces, store, events, installer, drivers, gateway, redactor, logger, defaultModel, providers: (workspace) => ProviderRegistry.load({ ...providerOpts, workspace }), tracing, metrics, ownEndpoints, pools, liveCount: (n) => idleGc.live(n) });
  poolStatus.read = () => manager.pool.status();
  // One node of several on a shared database: leases, takeover, calls to a session's owner, live events from other nodes.
  let cluster: ClusterNode | undefined;
  if (shared) {
    cluster = new (await import("./cluster/node.js")).ClusterNode({
      store: shared,
      leaseMs: config.env.BERTH_NODE_LEASE_MS ?? 15_000,
      home: config.home,
      version: VERSION,
      logger,
      execute: (kind, id, args) => manager.execute(kind, id, args),
      adopted: (rows) => manager.adoptOrphaned(rows),
      fenced: (unknown) => manager.fence(unknown),
    });
    manager.attachCluster(cluster);
    shared.onResync(() => void events.resync());
    await events.watch();
    await cluster.start();
  }
  // Sessions past BERTH_RETENTION_DAYS are deleted, rows and files (swept once recovery is done).
  const retentionDays = config.env.BERTH_RETENTION_DAYS;
  const retention = retentionDays
    ? new Retention({ store, events, home: config.home, retentionMs: retentionDays * 86_400_000, live: () => manager.liveIds(), logger, purged: (n) => metrics.sessionsPurgedTotal.inc(n) })
    : undefined;
  // The previous run's leftovers, after listening (the engine client alone takes ~0.3 s to
  // load): /health answers at once, /ready and every /v1 request wait for this.
  const recovered = (async () => {
    // With a shared home, only this node's pool entries are swept: those its sandbox rows name.
    const ownEntries = shared ? new Set((await store.listSandboxes()).map((r) => r.sessionId).filter((id) => id.startsWith("pool_"))) : undefined;
    // A container created just before a crash, never recorded: the label finds it. First, so
    // that recovery judges the workspaces of interrupted sessions with no agent left.
    await (drivers.byDriverName("oci") as OciDriver | undefined)?.reapLabelled();
    // Likewise a T1 sandbox's cgroup: found under this owner's cgroup directory.
    await bwrap.reapLeftovers();
    const interrupted = await manager.recover();
    if (interrupted) logger.warn({ interrupted }, "marked sessions live under the previous process as interrupted");
    // Then what dead nodes left.
    await cluster?.sweep();
    // Pool entries a crash left: their sandboxes were reaped with the store's rows above; their directories go now.
    const leftovers = removePoolLeftovers(config.home, ownEntries);
    if (leftovers) logger.info({ leftovers }, "removed the previous run's pool entry directories");
    // Pools fill only now, so a refill never races the reaping.
    manager.startPools();
    retention?.start();
  })();
  recovered.catch((e: unknown) => logger.error({ err: e }, "recovery from the previous run failed; /v1 answers 503 recovery_failed"));
  let recovering = true;
  void recovered.finally(() => (recovering = false)).catch(() => {});

  let takeOver: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const door = opts.frontDoor;
  const api = await buildApi({
    ...(door
      ? {
          serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
            takeOver = handler;
            return door.server;
          },
        }
      : {}),
    manager,
    events,
    installer,
    redactor,
    logger,
    apiToken,
    limits: apiLimits,
    hostAllowed,
    version: VERSION,
    ...(config.env.BERTH_PUBLIC_URL ? { publicUrl: config.env.BERTH_PUBLIC_URL } : {}),
    providers: () => providers.list(),
    consoleDir: join(PACKAGE_ROOT, "dist", "console"),
    files: {
      tmpDir: join(config.home, "tmp", "uploads"),
      maxUploadBytes: config.env.BERTH_MAX_UPLOAD_BYTES ?? 1024 ** 3,
      maxUploadEntries: config.env.BERTH_MAX_UPLOAD_ENTRIES ?? 100_000,
    },
    conformance: () => readReports(config.home),
    metrics,
    recovered,
    notReady: async () => {
      if (recovering) return "recovering from the previous run (reaping its sandboxes)";
      try {
        await recovered;
      } catch (e) {
        return `recovery from the previous run failed: ${(e as Error).message}`;
      }
      try {
        await store.ping();
      } catch (e) {
        return `store unavailable: ${(e as Error).message}`;
      }
      try {
        await drivers.forTier(config.defaultTier)?.check();
      } catch (e) {
        return (e as Error).message;
      }
      return null;
    },
  });
  if (door) {
    await api.ready();
    door.open(takeOver!);
  } else await api.listen({ host: config.host, port: config.port });
  const exposure = exposureWarning(config.host, config.env.BERTH_PUBLIC_URL);
  if (exposure) logger.warn(exposure);
  const addr = api.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  listening.endpoint = { host: config.host, port };
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await recovered.catch(() => {});
      await retention?.stop();
      await manager.shutdown();
      // The lease goes at once: other nodes need not wait for it to expire.
      await cluster?.stop();
      idleGc.cancel();
      await api.close();
      await door?.close();
      await gateway.close();
      await tracing.shutdown();
      await mock.close();
      await events.close();
      await store.close();
    })());

  const consoleServed = api.hasRoute({ method: "GET", url: "/ui/" });
  return { config, api, url, apiToken, tokenCreated, consoleServed, exposure, mock, providers, usingMock: useMock, defaultModel, manager, store, events, recovered, gateway, logger, close };
}

/**
 * BERTH_HOME and these directories are traverse-only (0711: searchable, not listable, not
 * readable) because bwrap runs as uid 1000 and must walk to the session's directory, its
 * workspace and the gateway socket it mounts; everything berth itself writes in them is
 * 0600 (the database and its -wal/-shm, the token), so knowing a name reads nothing.
 */
function prepareHome(home: string): void {
  for (const d of [home, join(home, "sessions"), join(home, "workspaces"), runDir(home)]) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o711);
  }
  // A token file an operator (or an older berth) left readable, unused while BERTH_TOKEN is set.
  if (existsSync(join(home, "token"))) chmodSync(join(home, "token"), 0o600);
}
