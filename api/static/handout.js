// The leader's handout (核销) of one deal: pickup codes from the camera (scan.js), a photo of the
// code, or pasted text queue up; one submission hands out the whole queue ("handover" action,
// signed by the leader through wallet.js's run(): EOA or passkey). A pickup code is the JSON the
// buyer's page shows as a QR code: {"v":1,"deal","buyer","quantity","expiry","signature"}; its
// quantity is what the buyer signed (fewer than ordered: the buyer's units marked short).
// Cash orders are handed out (or short) one at a time ("hand_over_cash"), booked with cashbook.js.
(function () {
  "use strict";
  const T = window.Tuan;
  const page = document.getElementById("handout");
  if (!page) return;
  const dealId = Number(page.dataset.deal);
  const names = {}; // buyer (lowercase) -> { name, quantity }
  page.querySelectorAll("[data-buyer]").forEach((row) => {
    names[row.dataset.buyer.toLowerCase()] = { name: row.dataset.name, quantity: Number(row.dataset.quantity) };
  });
  const queue = new Map(); // buyer (lowercase) -> item
  const list = document.getElementById("queue");
  const out = document.getElementById("handout-status");
  const submit = document.getElementById("hand-out");
  const say = (text, kind) => { out.textContent = text; out.className = kind || ""; };

  function parse(text) {
    let code;
    try { code = JSON.parse(String(text).trim()); } catch (error) { throw new Error(T.t("js_code_unreadable")); }
    if (!code || code.v !== 1 || !code.buyer || !code.signature) throw new Error(T.t("js_code_unreadable"));
    if (Number(code.deal) !== dealId) throw new Error(T.t("js_code_other_deal", { deal: code.deal }));
    if (Number(code.expiry) * 1000 < Date.now()) throw new Error(T.t("js_code_expired"));
    return { buyer: code.buyer, quantity: Number(code.quantity), expiry: Number(code.expiry), signature: code.signature };
  }

  function render() {
    list.textContent = "";
    for (const [buyer, item] of queue) {
      const known = names[buyer];
      const short = known && item.quantity < known.quantity ? " · " + T.t("js_short_units", { n: known.quantity - item.quantity }) : "";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = "✕";
      remove.addEventListener("click", () => { queue.delete(buyer); render(); });
      const li = document.createElement("li");
      li.dataset.buyer = item.buyer;
      li.append((known ? known.name : item.buyer) + " × " + item.quantity + short + " ", remove);
      list.append(li);
    }
    submit.disabled = queue.size === 0;
    submit.textContent = T.t("js_hand_out_n", { n: queue.size });
  }

  // true: the code was taken (the camera goes on for the next one in the queue).
  function add(text) {
    try {
      const item = parse(text);
      const key = item.buyer.toLowerCase();
      if (!names[key]) throw new Error(T.t("js_code_not_in_group"));
      const fresh = !queue.has(key);
      queue.set(key, item);
      render();
      if (fresh) say("✔ " + names[key].name + " × " + item.quantity, "ok");
      return true;
    } catch (error) {
      say("✖ " + error.message, "error");
      return false;
    }
  }

  document.getElementById("paste-add").addEventListener("click", () => {
    const area = document.getElementById("paste");
    if (add(area.value)) area.value = "";
  });
  document.getElementById("code-photo").addEventListener("change", async (event) => {
    for (const file of event.target.files) {
      try { add(await window.TuanScan.image(file)); } catch (error) { say("✖ " + T.t("js_no_code_in_photo"), "error"); }
    }
    event.target.value = "";
  });
  let stopCamera = null;
  const cameraButton = document.getElementById("camera");
  cameraButton.addEventListener("click", async () => {
    if (stopCamera) { stopCamera(); stopCamera = null; cameraButton.textContent = T.t("js_scan_start"); return; }
    try {
      const video = document.getElementById("viewfinder");
      video.hidden = false;
      stopCamera = await window.TuanScan.camera(video, (text) => { add(text); return false; });
      cameraButton.textContent = T.t("js_scan_stop");
    } catch (error) {
      say("✖ " + T.t("js_camera_unavailable") + " (" + (error.name || error.message) + ")", "error");
    }
  });
  submit.addEventListener("click", async () => {
    if (stopCamera) { stopCamera(); stopCamera = null; }
    const items = [...queue.values()];
    const who = items.map((i) => (names[i.buyer.toLowerCase()] || {}).name || i.buyer).join("、");
    try {
      await T.run({
        action: "handover", body: { deal_id: dealId, items },
        title: T.t("js_hand_out_n", { n: items.length }),
        summary: T.t("js_sign_hand_out", { n: items.length, who }),
      });
    } catch (error) { say("✖ " + T.explain(error), "error"); }
  });
  render();
})();
