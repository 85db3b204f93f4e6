/**
 * The one error type HTTP handlers throw, rendered as RFC 9457 `application/problem+json` by
 * `onError` (Hono's HTTPException pattern): handlers never build error responses themselves.
 */
import type { Context } from "hono";
import type { Logger } from "../observability/log.ts";

/** Problem type URIs are documented in docs/api.md#errors. */
const TYPE_BASE = "https://quetzal.dev/problems/";

export class Problem extends Error {
  override name = "Problem";
  readonly status: number;
  readonly type: string;
  readonly headers: Record<string, string>;

  constructor(status: number, type: string, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.status = status;
    this.type = type;
    this.headers = headers;
  }

  toResponse(instance?: string): Response {
    const body = {
      type: TYPE_BASE + this.type,
      title: TITLES[this.status] ?? "Error",
      status: this.status,
      detail: this.message,
      ...(instance ? { instance } : {}),
    };
    return new Response(JSON.stringify(body), {
      status: this.status,
      headers: { "Content-Type": "application/problem+json", ...this.headers },
    });
  }
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  412: "Precondition Failed",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** The app's error handler: Problems render themselves; anything else is logged and is a 500. */
export function errorHandler(log: Logger) {
  return function onError(error: Error, c: Context): Response {
    if (error instanceof Problem) return error.toResponse(c.req.path);
    log.error("unhandled error", {
      path: c.req.path,
      method: c.req.method,
      error: String(error?.stack ?? error),
    });
    return new Problem(500, "internal", "the server failed to handle this request").toResponse(
      c.req.path,
    );
  };
}
