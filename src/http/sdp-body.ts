/**
 * Reads a request body of an expected media type with a size limit, Hono body-limit style:
 * the Content-Length is checked before reading, and the stream is cut off at the limit for
 * chunked bodies that do not announce one.
 */
import { Problem } from "./errors.ts";

/** Returns the body as text after checking its media type and size. */
export async function readBody(
  req: Request,
  mediaTypes: readonly string[],
  limitBytes: number,
): Promise<string> {
  const type = (req.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  if (!mediaTypes.includes(type)) {
    throw new Problem(
      415,
      "unsupported-media-type",
      `expected Content-Type ${mediaTypes.join(" or ")}, got ${type ? `"${type}"` : "none"}`,
      { "Accept-Post": mediaTypes.join(", ") },
    );
  }
  return await readText(req, limitBytes);
}

/**
 * Reads a body as UTF-8 text of at most `limitBytes`, whatever its type (the WHEP extension
 * routes ignore it: the draft's own example says `application/sjon`).
 */
export async function readText(req: Request, limitBytes: number): Promise<string> {
  const declared = Number(req.headers.get("Content-Length") ?? "NaN");
  if (declared > limitBytes) {
    throw new Problem(
      413,
      "body-too-large",
      `the body is ${declared} bytes; the limit is ${limitBytes}`,
    );
  }
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch {
      // The client closed the connection or broke the framing (a Content-Length longer than
      // what it sent, a bad chunk): its fault, not the server's, so not a 500.
      throw new Problem(400, "bad-body", "the request body could not be read to its end");
    }
    const { done, value } = chunk;
    if (done) break;
    size += value.byteLength;
    if (size > limitBytes) {
      await reader.cancel();
      throw new Problem(
        413,
        "body-too-large",
        `the body is larger than the limit of ${limitBytes} bytes`,
      );
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let off = 0;
  for (const chunk of chunks) {
    body.set(chunk, off);
    off += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw new Problem(400, "bad-encoding", "the body is not valid UTF-8");
  }
}
