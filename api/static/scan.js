// QR codes read in the browser, for the leader's handout page (核销): from the camera, or from a
// photo of the code. BarcodeDetector where the browser has one (Android Chrome, macOS, ChromeOS);
// elsewhere jsQR (pinned from npm, served as /static/vendor/jsQR.js, loaded on first use). The
// camera needs a secure context: https, or http://localhost in development.
//
// TuanScan.camera(video, onText) → stop(): scans frames until stopped (or onText returns true).
// TuanScan.image(file) → the text of the first QR code in the picture (or throws).
(function () {
  "use strict";
  let detector = null;
  let jsQRLoaded = null;

  async function nativeDetector() {
    if (detector !== null) return detector;
    detector = false;
    if ("BarcodeDetector" in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("qr_code")) detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      } catch (error) { detector = false; }
    }
    return detector;
  }

  function loadJsQR() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    if (!jsQRLoaded) {
      jsQRLoaded = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = "/static/vendor/jsQR.js";
        script.onload = () => resolve(window.jsQR);
        script.onerror = () => reject(new Error("jsQR did not load"));
        document.head.append(script);
      });
    }
    return jsQRLoaded;
  }

  // One frame (a video, an image bitmap) → the QR code's text, or null.
  async function decode(source, width, height) {
    const native = await nativeDetector();
    if (native) {
      const found = await native.detect(source);
      return found.length ? found[0].rawValue : null;
    }
    const jsQR = await loadJsQR();
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(source, 0, 0, width, height);
    const pixels = context.getImageData(0, 0, width, height);
    const code = jsQR(pixels.data, width, height, { inversionAttempts: "attemptBoth" });
    return code ? code.data : null;
  }

  async function image(file) {
    const bitmap = await createImageBitmap(file);
    const text = await decode(bitmap, bitmap.width, bitmap.height);
    if (text === null) throw Object.assign(new Error("no QR code in the picture"), { code: "no_qr_code" });
    return text;
  }

  async function camera(video, onText) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    video.srcObject = stream;
    video.setAttribute("playsinline", "");
    await video.play();
    let running = true;
    const stop = () => {
      running = false;
      stream.getTracks().forEach((track) => track.stop());
      video.srcObject = null;
    };
    (async function loop() {
      while (running) {
        if (video.readyState >= 2 && video.videoWidth) {
          const text = await decode(video, video.videoWidth, video.videoHeight).catch(() => null);
          if (text !== null && running && (await onText(text)) === true) { stop(); return; }
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    return stop;
  }

  window.TuanScan = { camera, image, decode };
})();
