// The /publish page: sends this browser's camera and microphone to /whip/<stream>.
import { publish } from "./player.js";
import { explainIfNoCamera } from "./secure-context.js";

let publisher = null;

function setStatus(text) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.hidden = text === "";
}

async function start(event) {
  event.preventDefault();
  const name = document.getElementById("stream").value.trim();
  const form = {
    token: document.getElementById("token").value.trim(),
    codec: document.getElementById("codec").value,
    simulcast: document.getElementById("simulcast").checked,
  };
  document.getElementById("start").disabled = true;
  setStatus("connecting…");
  try {
    publisher = await publish(location.origin, form.token, name, form);
    document.getElementById("preview").srcObject = publisher.mediaStream;
    document.getElementById("stop").disabled = false;
    const link = document.querySelector("#watch-link a");
    link.href = link.textContent = `${location.origin}/watch/${encodeURIComponent(name)}`;
    document.getElementById("watch-link").hidden = false;
    await publisher.connected;
    setStatus("");
  } catch (error) {
    setStatus(`cannot publish: ${error.message}`);
    document.getElementById("start").disabled = false;
  }
}

async function stop() {
  document.getElementById("stop").disabled = true;
  await publisher?.stop();
  publisher = null;
  document.getElementById("preview").srcObject = null;
  document.getElementById("start").disabled = false;
  setStatus("not publishing");
}

function main() {
  const initial = new URLSearchParams(location.search).get("stream");
  if (initial) document.getElementById("stream").value = initial;
  document.getElementById("publish-form").addEventListener("submit", start);
  document.getElementById("stop").addEventListener("click", stop);
  if (explainIfNoCamera(document.getElementById("camera-blocked"))) {
    document.getElementById("start").disabled = true;
    setStatus("cannot publish from this page: see above");
  }
}

main();
