/**
 * The consumers of the fan-out cases: `count` viewers of a producer, each with its own SRTP
 * session (the backend `auto` picks, AES-GCM) and a link on the send path `auto` picks, sending
 * to a loopback sink. Used inside the forwarding workers and, for the inline rows, on the main
 * thread.
 */
import type dgram from "node:dgram";
import { Consumer, type ViewerLink } from "../../src/sfu/consumer.ts";
import type { Producer } from "../../src/sfu/producer.ts";
import type { DatagramLink } from "../../src/transport/datagram-link.ts";
import { selectSendPath } from "../../src/transport/send-path.ts";
import { selectSrtpBackend } from "../../src/transport/srtp-backend.ts";
import { SrtpProfile, type SrtpSession } from "../../src/transport/srtp.ts";
import { srtpKeys } from "./synthetic-media.ts";

export interface ConsumerSpec {
  /** Consumers to attach. */
  consumers: number;
  /** Index of the first (keys and SSRCs differ per consumer across workers). */
  first: number;
  sinkPort: number;
}

/** Attaches the consumers; `onSent` runs once per datagram sent. `close` frees them. */
export function attachConsumers(
  producer: Producer,
  socket: dgram.Socket,
  spec: ConsumerSpec,
  onSent: () => void,
): { close(): void } {
  const backend = selectSrtpBackend("auto");
  const path = selectSendPath("auto");
  const sessions: SrtpSession[] = [];
  const links: DatagramLink[] = [];
  for (let c = 0; c < spec.consumers; c++) {
    const srtp = backend.createSession(srtpKeys(SrtpProfile.AEAD_AES_128_GCM, spec.first + c));
    const udp = path.link(socket, "127.0.0.1", spec.sinkPort);
    sessions.push(srtp);
    links.push(udp);
    let twcc = 0;
    const link: ViewerLink = {
      sendRtp(buf, len) {
        const slot = udp.acquire();
        if (slot < 0) return false;
        const n = srtp.protectRtp(buf, len, udp.view(slot));
        if (n < 0) {
          udp.discard(slot);
          return false;
        }
        udp.send(slot, n);
        onSent();
        return true;
      },
      nextTransportSequence: () => (twcc = (twcc + 1) & 0xffff),
      ready: true,
    };
    producer.addConsumer(
      new Consumer({
        producer,
        link,
        ssrc: 0x1000 + spec.first + c,
        payloadType: 96,
        mid: "0",
        extensions: producer.extensions,
      }),
    );
  }
  return {
    close() {
      for (const s of sessions) s.close();
      for (const l of links) l.close();
    },
  };
}
