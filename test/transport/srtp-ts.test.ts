import { assertEquals } from "@std/assert";
import { runSrtpConformance } from "./srtp.case.ts";
import { tsSrtpBackend } from "../../src/transport/srtp-ts.ts";
import { deriveSrtpSessionKey, SrtpKdfLabel } from "../../src/transport/srtp-kdf.ts";
import { AesCounterKeystream } from "../../src/transport/srtp-ts-transform.ts";

const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));

Deno.test("srtp kdf: RFC 3711 Appendix B.3 key derivation vectors", () => {
  const masterKey = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
  const masterSalt = hex("0EC675AD498AFEEBB6960B3AABE6");
  const rows: Array<[number, number, string]> = [
    [SrtpKdfLabel.rtpEncryption, 16, "C61E7A93744F39EE10734AFE3FF7A087"],
    [SrtpKdfLabel.rtpSalt, 14, "30CBBC08863D8C85D49DB34A9AE1"],
    [
      SrtpKdfLabel.rtpAuthentication,
      94,
      "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE" +
      "E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25" +
      "6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2",
    ],
  ];
  for (const [label, length, want] of rows) {
    assertEquals(deriveSrtpSessionKey(masterKey, masterSalt, label, length), hex(want));
  }
});

Deno.test("srtp aes-cm: RFC 3711 Appendix B.2 keystream vector", () => {
  const ks = new AesCounterKeystream(hex("2B7E151628AED2A6ABF7158809CF4F3C"));
  ks.iv.set(hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
  const got = new Uint8Array(ks.generate(3, 0, false));
  ks.close();
  assertEquals(
    got,
    hex(
      "E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB" +
        "41E95B3BB0A2E8DD477901E4FCA894C0",
    ),
  );
});

runSrtpConformance(tsSrtpBackend);
