// The / page: live streams from GET /api/streams, refreshed, and a box to open any stream.

const REFRESH_MS = 5_000;

function watchUrl(name, token) {
  const query = token ? `?token=${encodeURIComponent(token)}` : "";
  return `/watch/${encodeURIComponent(name)}${query}`;
}

function formatUptime(seconds) {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

function formatBitrate(bps) {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function streamRow(stream, token) {
  const tr = document.createElement("tr");
  const link = document.createElement("a");
  link.href = watchUrl(stream.name, token);
  link.textContent = stream.name;
  const nameCell = document.createElement("td");
  nameCell.append(link);
  tr.append(
    nameCell,
    cell((stream.codecs ?? []).join(", ")),
    cell(String(stream.layers?.length || 1)),
    cell(String(stream.viewers ?? 0)),
    cell(formatBitrate(stream.bitrateBps ?? 0)),
    cell(formatUptime(stream.uptimeSeconds ?? 0)),
  );
  return tr;
}

async function refresh() {
  const status = document.getElementById("streams-status");
  const table = document.getElementById("streams");
  try {
    const response = await fetch("/api/streams");
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const { streams } = await response.json();
    const token = document.getElementById("token-input").value.trim();
    table.tBodies[0].replaceChildren(...streams.map((s) => streamRow(s, token)));
    table.hidden = streams.length === 0;
    status.hidden = streams.length > 0;
    status.textContent = "No live streams yet. Publish one with OBS (WHIP) or from this browser.";
  } catch (error) {
    status.hidden = false;
    status.textContent = `cannot list streams: ${error.message}`;
  }
}

function main() {
  document.getElementById("open-stream").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = document.getElementById("stream-input").value.trim();
    const token = document.getElementById("token-input").value.trim();
    if (name) location.href = watchUrl(name, token);
  });
  refresh();
  setInterval(refresh, REFRESH_MS);
}

main();
