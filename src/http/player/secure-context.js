// Browsers give the camera, the microphone and WebCrypto only to secure contexts: pages opened
// over HTTPS, or from localhost / 127.0.0.1 over plain HTTP. A page that needs them opened over
// plain HTTP on any other address finds no `navigator.mediaDevices` and would fail without a
// word; this says what is wrong and what to do instead.

/**
 * Whether the page may use the camera: a secure context with `navigator.mediaDevices`.
 * @param {{ isSecureContext: boolean, navigator: { mediaDevices?: unknown } }} [win]
 */
export function canUseCamera(win = globalThis) {
  return Boolean(win.isSecureContext && win.navigator.mediaDevices);
}

/**
 * The explanation for a page that cannot use the camera, as title and paragraphs.
 * @param {{ protocol: string, host: string, pathname: string }} where the page's location
 * @param {boolean} secure whether the page is a secure context
 */
export function cameraBlockedText(where, secure) {
  if (secure) {
    return {
      title: "This browser offers no camera here",
      paragraphs: [
        "The page is on HTTPS, but the browser exposes no camera or microphone API " +
        "(navigator.mediaDevices). Try a current Chrome, Edge, Firefox or Safari.",
      ],
    };
  }
  return {
    title: "Cameras need HTTPS",
    paragraphs: [
      `Browsers give the camera and microphone only to pages opened over HTTPS (or from this ` +
      `computer as localhost). This page was opened over plain HTTP at ${where.protocol}//` +
      `${where.host}, so publishing from this browser cannot work here.`,
      `What to do: open the server's https:// address instead. If it has none, the operator ` +
      `can start Quetzal with --tls-self-signed (a certificate for a LAN or a trial) or put it ` +
      `behind an HTTPS reverse proxy (see docs/configuration.md, "HTTPS").`,
      "Watching streams works over plain HTTP.",
    ],
  };
}

/**
 * Shows the explanation in `box` (emptied first) and returns true when the camera is
 * unavailable; returns false and leaves `box` hidden otherwise.
 * @param {HTMLElement} box
 */
export function explainIfNoCamera(box) {
  if (canUseCamera()) {
    box.hidden = true;
    return false;
  }
  const text = cameraBlockedText(location, globalThis.isSecureContext);
  const title = document.createElement("strong");
  title.textContent = text.title;
  box.replaceChildren(
    title,
    ...text.paragraphs.map((line) => {
      const p = document.createElement("p");
      p.textContent = line;
      return p;
    }),
  );
  box.hidden = false;
  return true;
}
