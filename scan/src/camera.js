// Reads QR codes from the camera: with the browser's BarcodeDetector where
// it has one for QR codes, and with jsQR (vendored, Apache-2.0) otherwise.

import jsQR from "jsqr";

async function nativeDetector() {
  if (!("BarcodeDetector" in globalThis)) return null;
  try {
    const formats = await globalThis.BarcodeDetector.getSupportedFormats();
    if (!formats.includes("qr_code")) return null;
    return new globalThis.BarcodeDetector({ formats: ["qr_code"] });
  } catch {
    return null;
  }
}

/**
 * Starts the camera into `video` and calls `onCode(text)` for every QR code
 * read (the same code at most once per `repeatMs`). Answers a function that
 * stops the camera. Throws when there is no camera or it is refused.
 */
export async function startCamera(video, onCode, { repeatMs = 3000 } = {}) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
    audio: false,
  });
  video.srcObject = stream;
  video.setAttribute("playsinline", "");
  video.muted = true;
  await video.play();
  const detector = await nativeDetector();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let running = true;
  let last = { text: null, at: 0 };

  async function read() {
    if (video.readyState < 2 || video.videoWidth === 0) return null;
    if (detector) {
      const codes = await detector.detect(video);
      return codes.length ? codes[0].rawValue : null;
    }
    // Decode a centred square at most 640 pixels wide: enough for a phone
    // held up to the camera, and fast.
    const side = Math.min(video.videoWidth, video.videoHeight);
    const size = Math.min(side, 640);
    canvas.width = size;
    canvas.height = size;
    context.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, size, size);
    const image = context.getImageData(0, 0, size, size);
    const code = jsQR(image.data, size, size, { inversionAttempts: "attemptBoth" });
    return code ? code.data : null;
  }

  async function loop() {
    while (running) {
      let text = null;
      try {
        text = await read();
      } catch {
        text = null;
      }
      const now = Date.now();
      if (text && (text !== last.text || now - last.at > repeatMs)) {
        last = { text, at: now };
        onCode(text);
      }
      await new Promise((resolve) => setTimeout(resolve, 120));
    }
  }
  loop();
  return () => {
    running = false;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
}

/** Whether this browser can use a camera at all. */
export function hasCamera() {
  return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}
