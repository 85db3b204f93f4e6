# Quetzal on the official Deno image (Debian), pinned to the Deno version the project tests with.
#
#   docker build -t quetzal .
#   docker run --rm -p 8080:8080 -p 40000-40099:40000-40099/udp \
#     -e QUETZAL_RTC_PORTS=40000-40099 -e QUETZAL_PUBLIC_IP=<public ip> quetzal
#
# HTTPS (browsers give the publish page a camera only over HTTPS): add
#   -e QUETZAL_TLS_SELF_SIGNED=true -v quetzal-state:/app/.quetzal
# or mount your certificate and set QUETZAL_TLS_CERT / QUETZAL_TLS_KEY to the files
# (`docker kill -s HUP` reloads them).
#
# Media travels over UDP from QUETZAL_RTC_PORTS: one port per WHIP or WHEP session, two per
# room participant (publish and subscribe). A full range refuses new connections (503
# over-capacity), so size it for the calls you expect: 100 ports hold a 50-person call.
# Publish the same range with -p, and set QUETZAL_PUBLIC_IP to the address clients reach:
# inside a container Quetzal only sees its bridge address, which nobody outside can reach.
# On Linux, `--network host` avoids the port mapping altogether (then set the range only).
FROM denoland/deno:debian-2.9.6

USER root
# libsrtp2: the fast SRTP backend (Deno FFI); Quetzal falls back to TypeScript without it.
# libgnutls30 (already in Debian images, apt needs it): seals outgoing SRTP without NSS.
RUN apt-get update \
  && apt-get install -y --no-install-recommends libsrtp2-1 libgnutls30 \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The state directory (the --tls-self-signed certificate) must be writable by the deno user;
# mount a volume there to keep the certificate, and so its fingerprint, across containers.
RUN mkdir -p /app/.quetzal && chown deno:deno /app/.quetzal

# Dependencies first, so a code change does not download them again. They go to DENO_DIR
# (/deno-dir in the official image, owned by the deno user); --frozen refuses a stale lock.
COPY deno.json deno.lock ./
USER deno
RUN deno install --frozen

COPY src/ src/
RUN deno install --frozen --entrypoint src/main.ts

# HTTP: WHIP, WHEP, /api, the player, /metrics, /healthz, /readyz.
EXPOSE 8080/tcp
# Media (ICE, DTLS, SRTP): keep in step with QUETZAL_RTC_PORTS and the -p mapping. Each
# connection holds one port, so the range bounds concurrent connections (and QUETZAL_MAX_SESSIONS).
EXPOSE 40000-40099/udp

ENV QUETZAL_PORT=8080 \
  QUETZAL_RTC_PORTS=40000-40099

# curl is not in the image: a one-line fetch with Deno does the probe, over plain HTTP or, when
# the port serves HTTPS (--tls-cert, --tls-self-signed), over TLS without checking the certificate
# of 127.0.0.1 (it is issued for the public name, or self-signed).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["deno", "eval", "--unsafely-ignore-certificate-errors=127.0.0.1", "const get = (s) => fetch(`${s}://127.0.0.1:${Deno.env.get('QUETZAL_PORT') ?? '8080'}/healthz`); const r = await get('http').catch(() => get('https')); if (!r.ok) Deno.exit(1);"]

# deno task forwards SIGTERM, so `docker stop` drains sessions within QUETZAL_SHUTDOWN_GRACE_MS
# (give docker stop a longer --time than that).
CMD ["deno", "task", "start"]
