// The buyer's pickup code (提货码), on the orders page: the buyer's wallet or passkey signs the
// escrow's Handover typed data (prepared by POST /v1/actions/handover_code/prepare; signed through
// wallet.js's run({signOnly}), nothing is sent), and the page shows it as a QR code for the
// leader to scan, with the same text to copy. The code is kept in this browser until it expires,
// so a reload still shows it. Its quantity is the units taken: fewer than ordered when the
// leader's delivery was short (the rest is refunded).
(function () {
  "use strict";
  const T = window.Tuan;
  const storeKey = (deal, buyer) => "tuan.pickup." + deal + "." + String(buyer).toLowerCase();

  async function show(box, code) {
    const text = JSON.stringify(code);
    const response = await fetch("/v1/qr", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
    });
    box.querySelector(".pickup-qr").innerHTML = response.ok ? await response.text() : "";
    const shown = box.querySelector("[data-pickup-code]");
    shown.textContent = text;
    shown.hidden = false;
    box.querySelector(".pickup-until").textContent = T.t("js_code_valid_until", {
      until: new Date(code.expiry * 1000).toLocaleTimeString(),
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
            title: T.t("js_pickup_code"), summary: box.dataset.summary.replace("{n}", String(quantity)),
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
