/** An error a client caused or can act on: it maps to an HTTP status and a stable code. */
export class BerthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (code: string, msg: string) => new BerthError(400, code, msg);
export const notFound = (code: string, msg: string) => new BerthError(404, code, msg);
export const conflict = (code: string, msg: string) => new BerthError(409, code, msg);
