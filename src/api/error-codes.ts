// Every `error.code` the API answers with, in one list: the OpenAPI document publishes it as
// the Error schema's enum (clients can switch on it), and a test checks that every code the
// source raises is here.
export const ERROR_CODES = [
  // the request itself
  "invalid_request",
  "invalid_json",
  "invalid_content_length",
  "invalid_url",
  "bad_request",
  "malformed_request",
  "body_too_large",
  "unsupported_media_type",
  "uri_too_long",
  "request_timeout",
  "headers_too_large",
  "not_found",
  "unauthorized",
  "host_not_allowed",
  // sessions
  "unknown_harness",
  "invalid_tier",
  "tier_not_allowed",
  "tier_unavailable",
  "harness_refuses_root",
  "invalid_workspace",
  "workspace_not_allowed",
  "workspace_not_writable",
  "workspace_changed",
  "workspace_in_use",
  "invalid_network_policy",
  "invalid_git_hosts",
  "budget_over_limit",
  "budget_unpriced",
  "permission_policy_unsupported",
  "deadline_over_limit",
  "session_not_found",
  "session_not_live",
  "not_resumable",
  // turns, permissions, events
  "budget_exceeded",
  "no_running_turn",
  "permission_not_found",
  "turn_not_found",
  "no_snapshot",
  "invalid_answer",
  "invalid_option",
  "invalid_last_event_id",
  "harness_timeout",
  // the server
  "recovery_failed",
  "starting_failed",
  "internal_error",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
