// The call page room links open: /call/<room>#token=<token>[&name=<name>][&height=<px>] (the
// camera's capture height, default 720). Without a name in the link it asks for one first (and
// remembers it): that click is also the gesture browsers want before they play sound. It joins
// with the SDK, publishes camera and microphone (speakers and admins), and shows one tile per
// person plus one per screen share. `globalThis.call` exposes the room for debugging and tests.
import { joinRoom } from "/sdk/quetzal.js";

const grid = document.getElementById("grid");
const status = document.getElementById("status");
const buttons = {
  mic: document.getElementById("mic"),
  camera: document.getElementById("camera"),
  screen: document.getElementById("screen"),
  leave: document.getElementById("leave"),
};
/** Tile elements by key: `<participant>` (camera, voice) or `<participant>/screen`. */
const tiles = new Map();
/** Detach functions of attached tracks, by `<participant>/<source>`. */
const attached = new Map();

function tile(key, label, screen = false) {
  let el = tiles.get(key);
  if (el) return el;
  el = document.createElement("div");
  el.className = screen ? "tile screen" : "tile";
  el.dataset.key = key;
  const video = document.createElement("video");
  video.muted = true; // sound plays from the audio element
  video.autoplay = true;
  video.playsInline = true;
  const audio = document.createElement("audio");
  audio.autoplay = true;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = label;
  el.append(video, audio, name);
  grid.append(el);
  tiles.set(key, el);
  layout();
  return el;
}

function removeTile(key) {
  tiles.get(key)?.remove();
  tiles.delete(key);
  layout();
}

/**
 * Gallery layout: the column count that makes 16:9 tiles largest in the space there is (a
 * screen share takes 2×2 cells), so two people fill the window side by side and twenty-five
 * still fit without scrolling.
 */
function layout() {
  const style = getComputedStyle(grid);
  const gap = parseFloat(style.columnGap) || 0;
  const width = grid.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const height = grid.clientHeight - parseFloat(style.paddingTop) -
    parseFloat(style.paddingBottom);
  const cells = [...tiles.values()].reduce(
    (n, el) => n + (el.classList.contains("screen") ? 4 : 1),
    0,
  );
  let best = { cols: 1, tileWidth: 0 };
  for (let cols = 1; cols <= Math.max(1, cells); cols++) {
    const rows = Math.ceil(cells / cols);
    const tileWidth = Math.min(
      (width - gap * (cols - 1)) / cols,
      ((height - gap * (rows - 1)) / rows) * 16 / 9,
    );
    if (tileWidth > best.tileWidth) best = { cols, tileWidth };
  }
  grid.classList.toggle("one-column", best.cols < 2);
  grid.style.setProperty("--cols", String(best.cols));
  grid.style.setProperty("--tile-width", `${Math.max(120, Math.floor(best.tileWidth))}px`);
}
new ResizeObserver(layout).observe(grid);

function keyOf(participantId, source) {
  return source === "screen" || source === "screenAudio"
    ? `${participantId}/screen`
    : participantId;
}

function label(participant) {
  return participant.name || participant.id.slice(0, 6);
}

async function main() {
  const params = new URLSearchParams(location.hash.slice(1));
  const name = params.get("name") ?? undefined;
  const height = Number(params.get("height") ?? 720);
  const token = params.get("token") ?? "";
  // The fragment holds the token: keep it out of the history and of copied URLs.
  history.replaceState(null, "", location.pathname);
  const room = await joinRoom(location.pathname, { token, name: name ?? await askName(token) });
  globalThis.call.room = room;
  document.getElementById("room-name").textContent = room.info.name || "Call";
  status.textContent = `Joined as ${room.localParticipant.name || "guest"}`;

  for (const participant of room.participants.values()) tile(participant.id, label(participant));
  room.on("participantJoined", (p) => tile(p.id, label(p)));
  room.on("participantUpdated", (p) => {
    const el = tiles.get(p.id);
    if (el) el.querySelector(".name").textContent = label(p);
  });
  room.on("participantLeft", (p) => {
    removeTile(p.id);
    removeTile(`${p.id}/screen`);
  });
  room.on("trackSubscribed", (track, participant) => {
    const screen = track.source === "screen" || track.source === "screenAudio";
    const el = tile(keyOf(participant.id, track.source), label(participant), screen);
    const media = el.querySelector(track.kind === "video" ? "video" : "audio");
    attached.set(`${participant.id}/${track.source}`, room.attach(track, media));
    if (track.kind === "audio") playOrOfferSound(media);
  });
  room.on("trackUnsubscribed", (track, participant) => {
    const key = `${participant.id}/${track.source}`;
    attached.get(key)?.();
    attached.delete(key);
    if (track.source === "screen") removeTile(`${participant.id}/screen`);
  });
  room.on("activeSpeakersChanged", (speakers) => {
    const loud = new Set(speakers.filter((s) => s.level > 0).map((s) => s.participant));
    for (const [key, el] of tiles) el.classList.toggle("speaking", loud.has(key));
  });
  room.on("reconnecting", () => (status.textContent = "Reconnecting…"));
  room.on("reconnected", () => (status.textContent = "Connected"));
  room.on("disconnected", (reason) => {
    status.textContent = `Disconnected (${reason})`;
    for (const key of [...tiles.keys()]) removeTile(key);
    Object.values(buttons).forEach((b) => (b.disabled = true));
  });

  buttons.leave.onclick = () => room.leave();
  if (room.localParticipant.role === "listener") return;

  const self = tile(room.localParticipant.id, `${label(room.localParticipant)} (you)`);
  self.classList.add("self");
  const publishes = [
    room.publish("camera", {
      capture: { height: { ideal: height }, width: { ideal: Math.round(height * 16 / 9) } },
    }).then((t) => {
      self.querySelector("video").srcObject = new MediaStream([t.mediaStreamTrack]);
      buttons.camera.disabled = false;
    }),
    room.publish("microphone").then((t) => {
      buttons.mic.disabled = false;
      press(buttons.mic, t.muted, "Unmute", "Mute");
    }),
  ];
  for (const result of await Promise.allSettled(publishes)) {
    if (result.status === "rejected") console.warn(`publish: ${result.reason.message}`);
  }
  buttons.screen.disabled = false;
  buttons.mic.onclick = () => toggleMute(room, "microphone", buttons.mic, "Unmute", "Mute");
  buttons.camera.onclick = () =>
    toggleMute(room, "camera", buttons.camera, "Start camera", "Stop camera");
  buttons.screen.onclick = async () => {
    if (room.localTracks.has("screen")) await room.unpublish("screen");
    else await room.publish("screen").catch((e) => (status.textContent = e.message));
  };
}

/**
 * The name to join with, from the pre-join form (filled in with the last one used here). The
 * token's role is read only to label the button: the server checks the token.
 */
function askName(token) {
  const form = document.getElementById("prejoin");
  const input = document.getElementById("name");
  input.value = localStorage.getItem("quetzal.name") ?? "";
  if (roleOf(token) === "listener") {
    document.getElementById("join").textContent = "Join as listener";
  }
  form.hidden = false;
  status.textContent = "";
  input.focus();
  return new Promise((resolve) => {
    form.onsubmit = (event) => {
      event.preventDefault();
      const name = input.value.trim();
      localStorage.setItem("quetzal.name", name);
      form.hidden = true;
      status.textContent = "Joining…";
      resolve(name || undefined);
    };
  });
}

function roleOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).role;
  } catch {
    return undefined;
  }
}

/** Browsers may refuse sound until the person interacts with the page: offer a button then. */
function playOrOfferSound(media) {
  const sound = document.getElementById("sound");
  media.play().catch((error) => {
    if (error.name !== "NotAllowedError") return;
    sound.hidden = false;
    sound.onclick = () => {
      for (const audio of grid.querySelectorAll("audio")) audio.play().catch(() => {});
      sound.hidden = true;
    };
  });
}

function press(button, pressed, on, off) {
  button.setAttribute("aria-pressed", String(pressed));
  button.textContent = pressed ? on : off;
}

async function toggleMute(room, source, button, on, off) {
  const muted = !(room.localTracks.get(source)?.muted ?? false);
  try {
    await room.setMuted(source, muted);
    press(button, muted, on, off);
  } catch (error) {
    status.textContent = error.message;
  }
}

globalThis.call = { room: null, tiles };
globalThis.call.ready = main().catch((error) => {
  status.textContent = `Cannot join: ${error.message}${error.code ? ` (${error.code})` : ""}`;
  throw error;
});
