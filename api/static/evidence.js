// Claim evidence kept in the private store (orders page, claims pages): the buyer, the deal's
// supplier or an arbiter signs in (Sign-In with Ethereum through wallet.js), then the evidence
// document and its photos are fetched from /v1/documents/private/{sha256} and shown here. Each
// file's SHA-256 is checked in the browser against the digest the chain names, as review.js does.
(function () {
  "use strict";
  const T = window.Tuan;

  async function sha256Hex(bytes) {
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function fetchChecked(digest) {
    const response = await fetch("/v1/documents/private/" + digest, { credentials: "same-origin" });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw Object.assign(new Error(body.message || "HTTP " + response.status), { code: body.code });
    }
    const blob = await response.blob();
    if ((await sha256Hex(await blob.arrayBuffer())) !== digest) throw new Error(T.t("js_digest_differs"));
    return blob;
  }

  async function open(box) {
    const out = box.querySelector("output");
    const photos = box.querySelector(".photos");
    out.textContent = T.t("js_opening");
    try {
      await T.signIn();
      const doc = JSON.parse(await (await fetchChecked(box.dataset.digest)).text());
      photos.textContent = "";
      for (const ref of doc.photos || []) {
        const digest = String(ref).replace(/^sha256:/, "");
        const img = document.createElement("img");
        img.alt = T.t("js_evidence_photo");
        img.src = URL.createObjectURL(await fetchChecked(digest));
        photos.append(img);
      }
      out.textContent = "✔ " + T.t("js_digest_matches") + (doc.note ? " · " + doc.note : "");
      out.className = "ok";
    } catch (error) {
      out.textContent = "✖ " + (error.code === "access_denied" ? T.t("js_not_party") : T.explain(error));
      out.className = "error";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".private-evidence[data-digest]").forEach((box) => {
      box.querySelector("button").addEventListener("click", () => open(box));
    });
  });
})();
