/**
 * A TCP proxy in front of a test server that can cut every connection through it at once: what
 * a browser sees when its network drops (the signalling WebSocket ends without a close frame)
 * while new connections still get through, as after a switch from Wi-Fi to mobile data.
 */
export interface TcpProxy {
  /** http://127.0.0.1:<port> of the proxy. */
  url: string;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Ends every connection open now (both sides, no TCP handshake to close them cleanly). */
  cut(): void;
  close(): Promise<void>;
}

export function startTcpProxy(target: { hostname: string; port: number }): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<[Deno.TcpConn, Deno.TcpConn]>();
  const piping = new Set<Promise<unknown>>();
  let cuts = 0;
  const end = (pair: [Deno.TcpConn, Deno.TcpConn]) => {
    if (!open.delete(pair)) return;
    for (const conn of pair) {
      try {
        conn.close();
      } catch {
        // closed by the other direction's pipe already
      }
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      let upstream: Deno.TcpConn;
      try {
        upstream = await Deno.connect(target);
      } catch {
        client.close();
        continue;
      }
      const pair: [Deno.TcpConn, Deno.TcpConn] = [client, upstream];
      open.add(pair);
      const copy = async (from: Deno.TcpConn, to: Deno.TcpConn) => {
        const buffer = new Uint8Array(16 * 1024);
        try {
          while (true) {
            const n = await from.read(buffer);
            if (n === null) break;
            let written = 0;
            while (written < n) written += await to.write(buffer.subarray(written, n));
          }
        } catch {
          // the pair was cut or the other side went away
        }
        end(pair);
      };
      for (const p of [copy(client, upstream), copy(upstream, client)]) {
        piping.add(p);
        void p.finally(() => piping.delete(p));
      }
    }
  })();
  const { port } = listener.addr;
  return {
    url: `http://127.0.0.1:${port}`,
    get cuts() {
      return cuts;
    },
    cut() {
      for (const pair of [...open]) {
        cuts++;
        end(pair);
      }
    },
    async close() {
      listener.close();
      await accepting.catch(() => {});
      this.cut();
      await Promise.all([...piping]);
    },
  };
}
