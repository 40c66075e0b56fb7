import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyReply } from "fastify";

// Every error response, whoever raises it (a route, Fastify, Node's parser), has one shape:
// {"error":{"code","message"}}, code machine-readable, message one sentence saying what to do.

export function sendError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).type("application/json").send({ error: { code, message } });
}

/** Fastify's own client errors, by its error code: our status, code and message. */
const FRAMEWORK: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, "invalid_json", "the body is not valid JSON; send a JSON object"],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, "invalid_json", "the body is empty; send a JSON object"],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, "body_too_large", "the body is too large; send at most 4 MiB"],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, "unsupported_media_type", "unsupported Content-Type; send application/json"],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, "invalid_content_length", "Content-Length does not match the body; send the exact length"],
  FST_ERR_CTP_INVALID_TYPE: [415, "unsupported_media_type", "invalid Content-Type header; send application/json"],
  FST_ERR_BAD_URL: [400, "invalid_url", "the URL is not validly percent-encoded; encode it and retry"],
  FST_ERR_MAX_PARAM_LENGTH: [414, "uri_too_long", "a path segment is too long; ids are at most 100 characters"],
  FST_ERR_ASYNC_CONSTRAINT: [400, "bad_request", "the request could not be routed; check its headers"],
};

/** The status, code and message for a Fastify/Node client error, or undefined for a server fault. */
export function frameworkError(err: Pick<FastifyError, "code" | "statusCode" | "message">): [number, string, string] | undefined {
  const known = err.code ? FRAMEWORK[err.code] : undefined;
  if (known) return known;
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    // A client error we have not mapped: keep its status, name it by the status.
    const label = (STATUS_CODES[err.statusCode] ?? "bad request").toLowerCase().replace(/[^a-z]+/g, "_");
    return [err.statusCode, label, `the request was refused (${STATUS_CODES[err.statusCode] ?? err.statusCode}); fix it and retry`];
  }
  return undefined;
}

/** Fastify's frameworkErrors option: errors raised before routing (bad URL, over-long params). */
export function onFrameworkError(err: FastifyError, _req: unknown, reply: FastifyReply) {
  const [status, code, message] = frameworkError(err) ?? [400, "bad_request", "the request is malformed; fix it and retry"];
  return sendError(reply, status, code, message);
}

/** Node's parser refused the bytes (timeouts, header overflow, malformed HTTP): answer in our shape, close. */
export function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, code, message] =
    err.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "request_timeout", "the request did not arrive in time; send it whole, promptly"]
      : err.code === "HPE_HEADER_OVERFLOW"
        ? [431, "headers_too_large", "the request line and headers are too large; send less than 16 KiB"]
        : [400, "malformed_request", "the request is not valid HTTP/1.1; fix it and retry"];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy();
}
