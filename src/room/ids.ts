/**
 * Random identifiers for rooms, participants and token ids: base64url, so they sit in paths and
 * link fragments unescaped. Room ids are 96 bits: not guessable, and the room list is not public.
 */

/** Random bytes as unpadded base64url (4 characters per 3 bytes). */
export function randomId(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

/** A room id: 12 random bytes (96 bits), 16 characters. */
export function newRoomId(): string {
  return randomId(12);
}

/** A participant id: 9 random bytes (72 bits), 12 characters; unique within a room. */
export function newParticipantId(): string {
  return randomId(9);
}

/** What an id in a URL or message may look like (base64url, 1–64 characters). */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
