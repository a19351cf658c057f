// The buyer's pickup code (提货码), on the orders page: the buyer's wallet or passkey signs the
// escrow's Handover typed data (prepared by POST /v1/actions/handover_code/prepare; signed through
// wallet.js's run({signOnly}), nothing is sent), and the page shows it as a QR code for the
// leader to scan, with the same text to copy. The code is kept in this browser until it expires,
// so a reload still shows it. Its quantity is the units taken: fewer than ordered when the
// leader's delivery was short (the rest is refunded).
//
// The code is short, for a QR code a phone camera reads at a glance:
//   tc2.<deal>.<buyer, 40 hex>.<quantity>.<expiry>.<e|w>.<base64url>
// "e": the signature as signed (a wallet's 65 bytes); "w": a passkey account's signature cut to
// what only the passkey makes (chain/aa/compact.py: r ‖ s ‖ authenticatorData ‖ clientDataJSON
// without the challenge); the service rebuilds the rest (challenge, signer, ERC-7739 nesting)
// from the handover's typed data and the chain. (Codes of the first form, JSON with a hex
// signature, are still read by the handout page.)
(function () {
  "use strict";
  const T = window.Tuan;
  const storeKey = (deal, buyer) => "tuan.pickup." + deal + "." + String(buyer).toLowerCase();

  const unhex = (h) => Uint8Array.from((h.slice(2).match(/../g) || []).map((b) => parseInt(b, 16)));
  const b64url = (bytes) => {
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  // A 32-byte ABI word as a number (offsets and lengths only: small, checked against the data).
  function word(bytes, at) {
    if (at < 0 || at + 32 > bytes.length) throw new Error("short");
    let n = 0;
    for (let i = at; i < at + 32; i++) n = n * 256 + bytes[i];
    if (n > bytes.length) throw new Error("offset");
    return n;
  }
  const field = (bytes, at) => bytes.subarray(at + 32, at + 32 + word(bytes, at));
  const CHALLENGE = '"challenge":"';
  const HEAD = '{"type":"webauthn.get","challenge":"';

  // abi.encode(bytes[] signers, bytes[] signatures) ‖ ERC-7739 suffix -> the compact assertion.
  function compactPasskey(sig) {
    const list = word(sig, 32);
    const assertion = field(sig, list + 32 + word(sig, list + 32));
    const auth = field(assertion, word(assertion, 128));
    const json = new TextDecoder().decode(field(assertion, word(assertion, 160)));
    const value = json.indexOf(CHALLENGE) + CHALLENGE.length;
    const end = json.indexOf('"', value);
    if (value < CHALLENGE.length || end < 0 || auth.length > 255) throw new Error("not webauthn");
    const standard = json.startsWith(HEAD);
    const rest = new TextEncoder().encode(standard ? json.slice(end + 1) : json.slice(0, value) + json.slice(end));
    const out = new Uint8Array(65 + auth.length + 1 + rest.length);
    out.set(assertion.subarray(0, 64), 0);
    out[64] = auth.length;
    out.set(auth, 65);
    out[65 + auth.length] = standard ? 1 : 0;
    out.set(rest, 66 + auth.length);
    return out;
  }

  function codeText(code) {
    const sig = unhex(code.signature);
    let kind = "e";
    let data = sig;
    if (sig.length !== 65) {
      try { data = compactPasskey(sig); kind = "w"; } catch (error) { data = sig; }
    }
    return ["tc2", code.deal, String(code.buyer).slice(2).toLowerCase(), code.quantity, code.expiry, kind, b64url(data)].join(".");
  }

  async function show(box, code) {
    const text = codeText(code);
    const response = await fetch("/v1/qr", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
    });
    box.querySelector(".pickup-qr").innerHTML = response.ok ? await response.text() : "";
    const shown = box.querySelector("[data-pickup-code]");
    shown.textContent = text;
    shown.hidden = false;
    box.querySelector(".pickup-until").textContent = T.t("js_code_valid_until", {
      until: T.when(code.expiry),
    });
    box.classList.add("has-code");
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".pickup-code[data-deal]").forEach((box) => {
      const deal = Number(box.dataset.deal);
      const buyer = box.dataset.buyer;
      const kept = JSON.parse(localStorage.getItem(storeKey(deal, buyer)) || "null");
      if (kept && kept.expiry * 1000 > Date.now()) show(box, kept);
      const form = box.querySelector("form");
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const out = form.querySelector("output");
        const quantity = Number(form.quantity.value);
        try {
          const signed = await T.run({
            action: "handover_code", body: { deal_id: deal, quantity }, signOnly: true,
            title: T.t("js_pickup_code"), summary: T.fill(JSON.parse(box.dataset.summary), { n: quantity }),
          });
          const details = signed.prepared.details;
          const code = {
            v: 1, deal, buyer: signed.from, quantity: details.quantity, expiry: details.expiry,
            signature: signed.signatures.handover,
          };
          localStorage.setItem(storeKey(deal, signed.from), JSON.stringify(code));
          await show(box, code);
          out.textContent = "";
        } catch (error) { out.textContent = "✖ " + T.explain(error); }
      });
    });
  });
})();
