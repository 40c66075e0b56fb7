import { BerthError } from "../util/errors.js";

export type ResolutionCode = "unknown_model" | "unknown_provider" | "missing_secret" | "api_mismatch" | "provider_unavailable" | "secret_not_allowed";

/** A model that cannot be routed. `code` is for machines; the message says what was searched and what to do. */
export class ProviderResolutionError extends BerthError {
  constructor(
    override readonly code: ResolutionCode,
    message: string,
    readonly details: { model: string; provider?: string; secret?: string; searched: string[] },
  ) {
    super(400, code, message);
    this.name = "ProviderResolutionError";
  }
}

/** A providers file that cannot be used: names the file and, for schema errors, the field. */
export class ProviderConfigError extends BerthError {
  constructor(
    readonly file: string,
    readonly field: string | undefined,
    detail: string,
    /** A workspace file is the client's doing (400); the operator's files are the server's (500). */
    clientFault = false,
  ) {
    super(clientFault ? 400 : 500, "provider_config_invalid", `${file}: ${field ? `${field}: ` : ""}${detail}`);
    this.name = "ProviderConfigError";
  }
}

/** Throws the ProviderResolutionError for the model being resolved. */
export type FailResolution = (code: ResolutionCode, message: string, extra?: { provider?: string; secret?: string }) => never;
