// The /watch/<stream> page: plays the stream over WHEP and shows its state and statistics.
import { whepPlay } from "./player.js";

const STATUS_TEXT = {
  connecting: "connecting…",
  waiting: "waiting for the stream…",
  playing: "",
  reconnecting: "reconnecting…",
  error: "cannot play",
  stopped: "stopped",
};

/** The stream name from /watch/<name> (names may contain encoded characters). */
function streamNameFromPath(pathname) {
  const match = /^\/watch\/(.+?)\/?$/.exec(pathname);
  return match ? decodeURIComponent(match[1]) : "";
}

function formatBitrate(bps) {
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbit/s`;
  return `${Math.round(bps / 1e3)} kbit/s`;
}

function formatMs(ms) {
  return ms === null || ms === undefined ? "–" : `${Math.round(ms)} ms`;
}

function showStats(stats) {
  const values = {
    resolution: stats.width ? `${stats.width}×${stats.height}` : "–",
    fps: stats.framesPerSecond ? `${Math.round(stats.framesPerSecond)} fps` : "–",
    bitrate: formatBitrate(stats.bitrateBps),
    latency: formatMs(stats.latencyMs),
    rtt: formatMs(stats.rttMs),
    loss: `${stats.lossPercent.toFixed(1)} %`,
    frames: String(stats.framesDecoded),
    codecs: [stats.videoCodec, stats.audioCodec].filter(Boolean).map((c) => c.split("/")[1])
      .join(" + ") || "–",
  };
  for (const [key, text] of Object.entries(values)) {
    document.querySelector(`[data-stat="${key}"]`).textContent = text;
  }
}

function layerLabel(layer) {
  const size = layer.height ? `${layer.height}p` : layer.rid ?? `layer ${layer.spatialLayerId}`;
  const rate = layer.bitrate ? ` · ${formatBitrate(layer.bitrate)}` : "";
  return `${size}${rate}${layer.bitrate === 0 ? " (off)" : ""}`;
}

/**
 * Refills the quality menu from a `layers` event, keeping the viewer's choice. A layer with
 * temporal layers also offers its lower frame rates (value `<rid>@<temporalLayerId>`).
 */
function showLayers(select, layers) {
  const chosen = select.value;
  const sorted = layers.filter((l) => l.rid).sort((a, b) => (b.height ?? 0) - (a.height ?? 0));
  select.replaceChildren(new Option("Auto", ""));
  for (const layer of sorted) {
    select.add(new Option(layerLabel(layer), layer.rid));
    for (const t of (layer.temporalLayers ?? []).slice(0, -1).reverse()) {
      const size = layer.height ? `${layer.height}p` : layer.rid;
      const fps = t.framerate
        ? `${Math.round(t.framerate)} fps`
        : `temporal layer ${t.temporalLayerId}`;
      select.add(new Option(`${size} · ${fps}`, `${layer.rid}@${t.temporalLayerId}`));
    }
  }
  const values = [...select.options].map((o) => o.value);
  select.value = values.includes(chosen) ? chosen : "";
  document.getElementById("quality-box").hidden = values.length < 3;
}

/** The quality menu's value as selectLayer arguments: `"h@0"` → ["h", 0]. */
function layerChoice(value) {
  const at = value.lastIndexOf("@");
  return at < 0 ? [value, undefined] : [value.slice(0, at), Number(value.slice(at + 1))];
}

function main() {
  const name = streamNameFromPath(location.pathname);
  const token = new URLSearchParams(location.search).get("token") ?? "";
  document.getElementById("stream-name").textContent = name;
  document.title = `${name} · Quetzal`;
  const status = document.getElementById("status");
  if (!name) {
    status.textContent = "no stream name in the address";
    return;
  }
  const player = whepPlay(`/whep/${encodeURIComponent(name)}`, {
    token,
    video: document.getElementById("video"),
  });
  globalThis.quetzalPlayer = player; // for the console and tests
  player.addEventListener("status", ({ detail }) => {
    const text = STATUS_TEXT[detail.status] ?? detail.status;
    status.textContent = detail.message ? `${text} (${detail.message})` : text;
    status.hidden = detail.status === "playing";
  });
  player.addEventListener("stats", ({ detail }) => showStats(detail));
  const select = document.getElementById("quality");
  player.addEventListener("layers", ({ detail }) => showLayers(select, detail.layers));
  select.addEventListener("change", () => {
    player.selectLayer(...layerChoice(select.value)).catch((error) => {
      status.hidden = false;
      status.textContent = `cannot switch quality: ${error.message}`;
    });
  });
  player.addEventListener("viewercount", ({ detail }) => {
    const viewers = document.getElementById("viewers");
    viewers.hidden = detail.count === null;
    viewers.textContent = `${detail.count} watching`;
  });
  player.addEventListener("status", ({ detail }) => {
    // New sessions start on Auto.
    if (detail.status === "reconnecting") select.value = "";
  });
}

main();
