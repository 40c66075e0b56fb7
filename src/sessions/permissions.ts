import type { PermissionOption, RequestPermissionRequest, RequestPermissionResponse } from "@agentclientprotocol/sdk";
import type { NewEvent } from "../events/types.js";
import type { PermissionAnswer, PermissionPolicy } from "./contract.js";
import { badRequest, notFound } from "../util/errors.js";
import { newId } from "../util/ids.js";



interface Pending {
  options: PermissionOption[];
  settle: (optionId: string | null, by: string) => void;
}

/**
 * Answers a harness's ACP session/request_permission by the session's policy: allow and
 * deny pick the matching option at once; ask publishes permission.requested and waits
 * for an answer through the API, denying when the timeout passes.
 */
export class PermissionBroker {
  private pending = new Map<string, Pending>();

  /** Requests waiting for an answer now. */
  get waiting(): number {
    return this.pending.size;
  }

  /** `emit` gets events without a turn; the session adds the running one. */
  constructor(private emit: (ev: NewEvent) => void) {}

  request(
    req: RequestPermissionRequest,
    policy: PermissionPolicy,
    timeoutMs: number,
    signal: AbortSignal,
    /** Told who settled the request (policy, client, timeout, cancelled) before the answer resolves. */
    onSettled?: (by: string) => void,
  ): Promise<RequestPermissionResponse> {
    const permissionId = newId("perm");
    const options = req.options;
    this.emit({
      type: "permission.requested",
      data: {
        permissionId,
        policy,
        toolCall: { toolCallId: req.toolCall.toolCallId, title: req.toolCall.title, kind: req.toolCall.kind, input: req.toolCall.rawInput },
        options: options.map((o) => ({ optionId: o.optionId, name: o.name, kind: o.kind })),
        ...(policy === "ask" ? { expiresAt: new Date(Date.now() + timeoutMs).toISOString() } : {}),
      },
    });
    return new Promise((resolve) => {
      let done = false;
      const timer: { t?: NodeJS.Timeout } = {};
      const settle = (optionId: string | null, by: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer.t);
        this.pending.delete(permissionId);
        const opt = options.find((o) => o.optionId === optionId);
        this.emit({
          type: "permission.resolved",
          data: { permissionId, outcome: optionId ? "selected" : "cancelled", optionId, kind: opt?.kind ?? null, by },
        });
        onSettled?.(by);
        resolve(optionId ? { outcome: { outcome: "selected", optionId } } : { outcome: { outcome: "cancelled" } });
      };
      signal.addEventListener("abort", () => settle(null, "cancelled"), { once: true });
      if (policy === "allow") return settle(pick(options, "allow"), "policy");
      if (policy === "deny") return settle(pick(options, "deny"), "policy");
      this.pending.set(permissionId, { options, settle });
      timer.t = setTimeout(() => settle(pick(options, "deny"), "timeout"), timeoutMs);
    });
  }

  answer(permissionId: string, a: PermissionAnswer): { permissionId: string; optionId: string | null } {
    const p = this.pending.get(permissionId);
    if (!p) throw notFound("permission_not_found", `no pending permission request ${permissionId} (already answered, timed out, or never asked)`);
    let optionId: string | null;
    if (a.optionId !== undefined) {
      if (!p.options.some((o) => o.optionId === a.optionId))
        throw badRequest("invalid_option", `option '${a.optionId}' is not one of ${p.options.map((o) => o.optionId).join(", ")}`);
      optionId = a.optionId;
    } else if (a.decision) {
      optionId = pick(p.options, a.decision);
    } else {
      throw badRequest("invalid_answer", "answer with optionId or decision (allow|deny)");
    }
    p.settle(optionId, "client");
    return { permissionId, optionId };
  }

  cancelAll(): void {
    for (const p of [...this.pending.values()]) p.settle(null, "cancelled");
  }
}

/** The once-option of the wanted kind, else the always-option; null (cancelled) if the agent offered neither. */
function pick(options: PermissionOption[], want: "allow" | "deny"): string | null {
  const order = want === "allow" ? ["allow_once", "allow_always"] : ["reject_once", "reject_always"];
  for (const k of order) {
    const o = options.find((x) => x.kind === k);
    if (o) return o.optionId;
  }
  return null;
}
