// The review queue: open an applicant's private credentials and check them against the chain.
// Opening needs a Sign-In with Ethereum session (EIP-4361): the page asks the service for the
// message, the reviewer's wallet signs it (personal_sign), the session is an HttpOnly cookie.
// The file is fetched from /v1/documents/private/{sha256}; its SHA-256 is computed here, in the
// browser, and compared with the digest the applicant anchored on chain: the reviewer need not
// trust the service for that. Decisions (approve / reject / revoke) are wallet.js forms.
(function () {
  "use strict";
  const T = window.Tuan;
  const signIn = T.signIn;

  async function sha256Hex(bytes) {
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function open(box) {
    const out = box.querySelector("output");
    const expected = box.dataset.digest.toLowerCase().replace(/^0x/, "");
    out.textContent = T.t("js_opening");
    out.className = "credential-check";
    try {
      await signIn();
      const response = await fetch("/v1/documents/private/" + expected, { credentials: "same-origin" });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw Object.assign(new Error(body.message || "HTTP " + response.status), { code: body.code });
      }
      const blob = await response.blob();
      const actual = await sha256Hex(await blob.arrayBuffer());
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = T.t("js_view_file") + " (" + (blob.type || "file") + ", " + blob.size + " B)";
      out.textContent = actual === expected ? "✔ " + T.t("js_digest_matches") + " " : "✖ " + T.t("js_digest_differs") + " ";
      out.classList.add(actual === expected ? "ok" : "error");
      out.append(link);
    } catch (error) {
      out.textContent = "✖ " + (error.code === "access_denied" ? T.t("js_not_reviewer") : T.explain(error));
      out.classList.add("error");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".credentials").forEach((box) => {
      box.querySelector("button.open-credentials").addEventListener("click", () => open(box));
    });
  });
})();
