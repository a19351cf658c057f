// The leader's handout (核销) of one deal: pickup codes from the camera (scan.js), a photo of the
// code, or pasted text queue up; one submission hands out the whole queue ("handover" action,
// signed by the leader through wallet.js's run(): EOA or passkey). A pickup code is the text the
// buyer's page shows as a QR code (pickup.js: "tc2.…", or the first form's JSON); its
// quantity is what the buyer signed (fewer than ordered: the buyer's units marked short).
// Cash orders are handed out (or short) one at a time ("hand_over_cash"), booked with cashbook.js.
(function () {
  "use strict";
  const T = window.Tuan;
  const page = document.getElementById("handout");
  if (!page) return;
  const dealId = Number(page.dataset.deal);
  const leader = page.dataset.leader;
  cashBook();
  if (!document.getElementById("queue")) return; // not open for handout (before receipt, after the deadline)
  const names = {}; // buyer (lowercase) -> { name, quantity }
  page.querySelectorAll("[data-buyer]").forEach((row) => {
    names[row.dataset.buyer.toLowerCase()] = {
      address: row.dataset.buyer, name: row.dataset.name, quantity: Number(row.dataset.quantity), state: row.dataset.state,
    };
  });
  const queue = new Map(); // buyer (lowercase) -> item
  const list = document.getElementById("queue");
  const out = document.getElementById("handout-status");
  const submit = document.getElementById("hand-out");
  const say = (text, kind) => { out.textContent = text; out.className = kind || ""; };

  const unreadable = () => new Error(T.t("js_code_unreadable"));
  const hexOf = (b64) => {
    const text = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64.length + 3) % 4));
    let out = "0x";
    for (let i = 0; i < text.length; i++) out += text.charCodeAt(i).toString(16).padStart(2, "0");
    return out;
  };
  // tc2.<deal>.<buyer hex>.<quantity>.<expiry>.<e|w>.<base64url> (pickup.js): "e" a signature
  // as signed, "w" a passkey's compact assertion (the service rebuilds the account signature).
  function parseShort(raw) {
    const p = raw.split(".");
    if (p.length !== 7 || !/^[0-9]+$/.test(p[1]) || !/^[0-9a-fA-F]{40}$/.test(p[2]) ||
        !/^[0-9]+$/.test(p[3]) || !/^[0-9]+$/.test(p[4]) || !/^[ew]$/.test(p[5]) ||
        !/^[A-Za-z0-9_-]+$/.test(p[6])) throw unreadable();
    const code = { deal: Number(p[1]), buyer: "0x" + p[2], quantity: Number(p[3]), expiry: Number(p[4]) };
    if (p[5] === "e") code.signature = hexOf(p[6]); else code.webauthn = p[6];
    return code;
  }

  function parse(text) {
    const raw = String(text).trim();
    let code;
    if (raw.startsWith("tc2.")) code = parseShort(raw);
    else {
      // The first form: {"v":1,"deal","buyer","quantity","expiry","signature"} (hex).
      try { code = JSON.parse(raw); } catch (error) { throw unreadable(); }
      if (!code || code.v !== 1 || !code.buyer || !code.signature) throw unreadable();
    }
    if (Number(code.deal) !== dealId) throw new Error(T.t("js_code_other_deal", { deal: code.deal }));
    if (Number(code.expiry) * 1000 < Date.now()) throw new Error(T.t("js_code_expired"));
    const row = names[String(code.buyer).toLowerCase()];
    if (row && row.state === "picked_up") throw new Error(T.t("js_code_picked_up"));
    const item = { buyer: row ? row.address : code.buyer, quantity: Number(code.quantity), expiry: Number(code.expiry) };
    if (code.webauthn) item.webauthn = code.webauthn; else item.signature = code.signature;
    return item;
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
      const before = queue.get(key);
      const same = (a, b) => (a.signature || a.webauthn) === (b.signature || b.webauthn);
      if (before && same(before, item)) return true; // the same code, seen again
      queue.set(key, item);
      render();
      say("✔ " + names[key].name + " × " + item.quantity, "ok");
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
    if (stopCamera) {
      stopCamera();
      stopCamera = null;
      cameraButton.textContent = T.t("js_scan_start");
      document.getElementById("viewfinder").hidden = true;
      return;
    }
    try {
      const video = document.getElementById("viewfinder");
      video.hidden = false;
      let last = null; // the camera sees the same code many times a second: say things once
      stopCamera = await window.TuanScan.camera(video, (text) => {
        if (text !== last) { last = text; add(text); }
        return false;
      });
      cameraButton.textContent = T.t("js_scan_stop");
    } catch (error) {
      say("✖ " + T.t("js_camera_unavailable") + " (" + (error.name || error.message) + ")", "error");
    }
  });
  submit.addEventListener("click", async () => {
    if (stopCamera) { cameraButton.click(); }
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

  // Cash orders: names from the cash book on this phone; booking computes the reference here.
  function cashBook() {
    const Cash = window.TuanCash;
    const book = Cash.load(leader);
    document.querySelectorAll("#cash .who[data-ref]").forEach((cell) => {
      const known = book[cell.dataset.ref];
      if (known) cell.textContent = known.who;
    });
    document.querySelectorAll("#cash form.hand-over-cash").forEach((form) => {
      const known = book[form.elements.beneficiary_ref.value];
      if (known) form.dataset.summary = form.dataset.summary.replace(/0x[0-9a-f]{8}/, known.who);
    });
    const exporter = document.querySelector("[data-cashbook-export]");
    if (exporter) exporter.addEventListener("click", () => Cash.exportBook(leader));
    const importer = document.querySelector("[data-cashbook-import]");
    if (importer) importer.addEventListener("change", async () => {
      await Cash.importBook(leader, importer.files[0]);
      location.reload();
    });
    const form = document.getElementById("book-cash");
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = form.querySelector("output");
      const entry = Cash.newReference(form.who.value);
      const quantity = Number(form.quantity.value);
      // Kept before signing: the reference only means something on this phone, and a booking
      // that is not signed leaves an unused entry, nothing on chain.
      Cash.booked(leader, entry, dealId, quantity);
      try {
        await T.run({
          action: "book_cash_order", body: { deal_id: dealId, quantity, beneficiary_ref: entry.ref },
          title: T.t("js_book_cash"), summary: T.t("js_sign_book_cash", { n: quantity, who: entry.who }),
        });
      } catch (error) { out.textContent = "✖ " + T.explain(error); }
    });
  }
})();
