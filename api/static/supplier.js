// The supplier workspace (/supplier/{address}): forms whose documents are built by the service
// (the builders `tuanchain supplier` uses: POST /v1/supplier/master-data, /events,
// /sensor-events), then signed through the one signing path, Tuan.run (prepare → sign → relay).
// Events are anchored at once, or staged on this device (sessionStorage) and anchored together
// under one Merkle root. Controls are shown to the page's own address only: another signer sees
// why. No build step, no dependency besides /static/wallet.js.
(function () {
  "use strict";
  const words = (key, values) => (window.Tuan ? window.Tuan.t(key, values) : key);

  // ------------------------------------------------------------------ GTIN check digit (GS1)

  // The GS1 mod-10 check digit of the digits before it (weights 3, 1, 3, … from the right).
  function checkDigit(body) {
    let sum = 0;
    [...body].reverse().forEach((d, i) => { sum += Number(d) * (i % 2 === 0 ? 3 : 1); });
    return (10 - (sum % 10)) % 10;
  }

  // GTIN-8/12/13/14 → GTIN-14, or an error in words (shown before anyone signs).
  function gtin14(text) {
    const digits = (text || "").trim();
    if (!/^\d{8}$|^\d{12,14}$/.test(digits)) return { error: words("js_sup_gtin_length") };
    const full = digits.padStart(14, "0");
    const expected = checkDigit(full.slice(0, 13));
    if (Number(full[13]) !== expected) return { error: words("js_sup_gtin_check", { digit: expected }) };
    // All zeros passes the check digit but names no product (validate_gtin14's rule, the registry's).
    if (/^0+$/.test(full)) return { error: words("js_sup_gtin_zeros") };
    return { gtin: full };
  }

  // Whose GTIN: the registry registers a batch only for the holder of the GS1 Company Prefix its
  // digits after the indicator start with; restricted-circulation numbers (02, 04, 2x) for nobody.
  // The same rule as traceability.epcis.identifiers (is_restricted_circulation, gtin_company_prefix).
  function gtinOwnership(gtin, prefixes) {
    const part = gtin.slice(1, 13);
    if (part[0] === "2" || part.startsWith("02") || part.startsWith("04")) return { error: words("js_err_restricted_circulation_gtin") };
    if (!prefixes.length) return { error: words("js_sup_no_prefix") };
    if (!prefixes.some((p) => part.startsWith(p))) return { error: words("js_sup_gtin_not_yours", { prefixes: prefixes.join(", ") }) };
    return { gtin };
  }

  // The same rule as traceability.epcis.identifiers (tests compare the two).
  window.TuanSupplier = { checkDigit, gtin14, gtinOwnership };

  const page = document.getElementById("supplier-page");
  if (!page || !window.Tuan) return;
  const T = window.Tuan;
  const t = T.t;
  const supplier = page.dataset.supplier;
  const STAGE_KEY = "tuan.staged." + supplier.toLowerCase();

  // ------------------------------------------------------------------ who may act

  // Until a wallet says who is looking, the controls wait behind "connect this supplier's
  // wallet"; a signer other than the page's address is told why it sees none.
  const showControls = (mine) => {
    document.querySelectorAll(".owner-only").forEach((node) => { node.hidden = !mine; });
  };
  showControls(false);
  const first = document.getElementById("connect-first");
  if (first && document.querySelector(".owner-only")) first.hidden = false;
  T.onSigner(async (signer) => {
    const me = (await signer.address()).toLowerCase();
    const mine = me === supplier.toLowerCase();
    showControls(mine);
    if (first) first.hidden = true;
    document.getElementById("not-you").hidden = mine;
    if (mine) renderStaged();
  });

  function say(form, text) {
    const out = form.querySelector("output");
    if (out) out.textContent = text;
  }

  // ------------------------------------------------------------------ apply

  const applyForm = document.getElementById("apply-form");
  if (applyForm) {
    applyForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = applyForm.elements;
      const body = { kind: "supplier" };
      // The public profile (api/names.py reads name, place and GLN from it); no personal data.
      body.profile = {
        type: "tuanchain:PartyProfile",
        name: { zh: f.name_zh.value.trim(), en: f.name_en.value.trim() || f.name_zh.value.trim() },
        place: { zh: f.place.value.trim(), en: f.place.value.trim() },
        gln: f.gln.value.trim(),
        products: f.products.value.trim(),
      };
      try {
        await T.run({
          action: "apply", body, title: applyForm.dataset.title,
          summary: applyForm.dataset.summary.replace("{name}", body.profile.name.zh),
          before: async (status) => {
            status(t("js_uploading"));
            body.credentials_digest = (await T.uploadPrivate(f.credentials.files[0], "credential")).digest;
            status("");
          },
        });
      } catch (error) { say(applyForm, "✖ " + T.explain(error)); }
    });
  }

  // ------------------------------------------------------------------ register a batch

  const registerForm = document.getElementById("register-form");
  if (registerForm) {
    const f = registerForm.elements;
    const hint = document.getElementById("gtin-check");
    const prefixes = (page.dataset.prefixes || "").split(" ").filter(Boolean);
    // The check digit, then whose GTIN it is: both said before anything is signed.
    const checkGtin = (text) => {
      const checked = gtin14(text);
      return checked.error ? checked : gtinOwnership(checked.gtin, prefixes);
    };
    const showCheck = () => {
      if (!f.gtin14.value) { hint.textContent = ""; return; }
      const checked = checkGtin(f.gtin14.value);
      hint.textContent = checked.error ? "✖ " + checked.error : "✔ " + t("js_sup_gtin_ok", { gtin: checked.gtin });
      hint.className = "small gtin-check " + (checked.error ? "error" : "ok");
    };
    f.gtin14.addEventListener("input", showCheck);
    const known = document.getElementById("known-product");
    if (known) {
      known.addEventListener("change", () => {
        const option = known.selectedOptions[0];
        if (!option || !option.dataset.product) return;
        const p = JSON.parse(option.dataset.product);
        f.gtin14.value = p.gtin;
        f.name_zh.value = (p.name && p.name.zh) || "";
        f.name_en.value = (p.name && p.name.en) || "";
        f.image_cid.value = p.image_cid || "";
        f.specification.value = p.specification || "";
        f.unit.value = p.unit || "";
        f.origin_country.value = (p.origin && p.origin.country) || "";
        f.origin_zh.value = (p.origin && p.origin.zh) || "";
        f.origin_en.value = (p.origin && p.origin.en) || "";
        showCheck();
      });
    }
    registerForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const checked = checkGtin(f.gtin14.value);
      if (checked.error) { showCheck(); say(registerForm, "✖ " + checked.error); return; }
      const fields = {};
      for (const [key, value] of new FormData(registerForm).entries()) {
        if (typeof value === "string" && value !== "") fields[key] = value;
      }
      fields.gtin14 = checked.gtin;
      for (const key of ["quantity", "min_c", "max_c"]) if (key in fields) fields[key] = Number(fields[key]);
      const body = { gtin14: checked.gtin, lot: fields.lot };
      const zh = document.documentElement.lang.startsWith("zh");
      const name = (zh ? fields.name_zh || fields.name_en : fields.name_en || fields.name_zh) || "";
      try {
        await T.run({
          action: "register_batch", body, title: registerForm.dataset.title,
          summary: registerForm.dataset.summary.replace("{product}", name).replace("{gtin}", checked.gtin).replace("{lot}", fields.lot),
          before: async (status) => {
            status(t("js_uploading"));
            if (f.photo.files.length) fields.image_cid = (await T.upload(f.photo.files[0])).cid;
            const built = await T.api("/v1/supplier/master-data", fields);
            // The product's document, public and pinned; the lot document names its CID.
            const product = new Blob([built.product_json], { type: "application/json" });
            product.name = "product-" + checked.gtin + ".json";
            const stored = await T.upload(product);
            if (stored.cid !== built.product_cid) throw new Error(t("js_sup_cid_mismatch"));
            body.metadata = built.metadata;
            status("");
          },
        });
      } catch (error) { say(registerForm, "✖ " + T.explain(error)); }
    });
  }

  // ------------------------------------------------------------------ trail events

  function staged() {
    try { return JSON.parse(sessionStorage.getItem(STAGE_KEY) || "[]"); } catch (e) { return []; }
  }
  function setStaged(items) {
    sessionStorage.setItem(STAGE_KEY, JSON.stringify(items));
    renderStaged();
  }
  function renderStaged() {
    const box = document.getElementById("staged");
    if (!box) return;
    const items = staged();
    const list = box.querySelector(".staged-list");
    list.textContent = "";
    for (const item of items) {
      const li = document.createElement("li");
      li.textContent = item.label + (item.breaches ? " · ⚠ " + t("js_sup_breaches", { n: item.breaches }) : "");
      list.append(li);
    }
    box.hidden = !items.length;
    box.querySelector("#anchor-root").textContent = t("js_sup_anchor_root", { n: items.length });
  }

  function card(form) { return form.closest(".batch-card"); }

  // datetime-local has no zone: the phone's offset is added (ISO 8601 with offset).
  function withOffset(local) {
    if (!local) return undefined;
    const minutes = -new Date(local).getTimezoneOffset();
    const sign = minutes >= 0 ? "+" : "-";
    const abs = Math.abs(minutes);
    const pad = (n) => String(n).padStart(2, "0");
    return (local.length === 16 ? local + ":00" : local) + sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }

  async function buildEvent(form) {
    const c = card(form);
    const f = form.elements;
    const body = {
      gtin14: c.dataset.gtin, lot: c.dataset.lot, kind: f.kind.value, location: f.location.value.trim(),
      uom: f.uom.value, passed: !f.failed.checked, certificates: [],
    };
    if (f.time.value) body.time = withOffset(f.time.value);
    if (f.quantity.value) body.quantity = Number(f.quantity.value);
    if (body.kind === "commissioning") {
      if (f.origin_country.value) body.origin_country = f.origin_country.value.trim().toUpperCase();
      if (f.harvest_date.value) body.harvest_date = f.harvest_date.value;
    }
    if (body.kind === "inspecting" && f.certificate.files.length) {
      // A product's certificate is public (the trail shows it); uploaded, then named by its CID.
      body.certificates.push("ipfs://" + (await T.upload(f.certificate.files[0])).cid);
    }
    return T.api("/v1/supplier/events", body);
  }

  function kindLabel(form) {
    const select = form.elements.kind;
    return select.selectedOptions[0].textContent;
  }

  document.querySelectorAll("form.event-form").forEach((form) => {
    const toggle = () => {
      const kind = form.elements.kind.value;
      form.querySelectorAll(".k-quantity").forEach((n) => { n.hidden = kind === "inspecting"; });
      form.querySelectorAll(".k-commissioning").forEach((n) => { n.hidden = kind !== "commissioning"; });
      form.querySelectorAll(".k-inspecting").forEach((n) => { n.hidden = kind !== "inspecting"; });
    };
    form.elements.kind.addEventListener("change", toggle);
    toggle();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const how = event.submitter ? event.submitter.value : "now";
      const c = card(form);
      const label = kindLabel(form) + " · " + c.dataset.name + " " + c.dataset.lot;
      try {
        if (how === "stage") {
          say(form, t("js_sup_building"));
          const built = await buildEvent(form);
          setStaged([...staged(), ...built.events.map((e) => ({ gtin14: c.dataset.gtin, lot: c.dataset.lot, event: e, label }))]);
          say(form, "✔ " + t("js_sup_staged"));
          return;
        }
        const body = { gtin14: c.dataset.gtin, lot: c.dataset.lot };
        await T.run({
          action: "anchor_event", body, title: t("js_sup_anchor_title"),
          summary: t("js_sup_sign_event", { what: label }),
          before: async (status) => {
            status(t("js_sup_building"));
            body.event = (await buildEvent(form)).events[0];
            status("");
          },
        });
      } catch (error) { say(form, "✖ " + T.explain(error)); }
    });
  });

  document.querySelectorAll("form.sensor-form").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const c = card(form);
      const data = new FormData(form);
      data.append("gtin14", c.dataset.gtin);
      data.append("lot", c.dataset.lot);
      const out = form.querySelector(".csv-result");
      try {
        const built = await T.api("/v1/supplier/sensor-events", data);
        const label = t("js_sup_sensor_label", { n: built.readings }) + " · " + c.dataset.name + " " + c.dataset.lot;
        setStaged([...staged(), ...built.events.map((e, i) => ({
          gtin14: c.dataset.gtin, lot: c.dataset.lot, event: e,
          label: label + " (" + (i + 1) + "/" + built.events.length + ")",
          breaches: (e.sensorElementList || []).reduce((n, s) => n + (s.sensorReport || []).filter((r) => r.exception === "ALARM_CONDITION").length, 0),
        }))]);
        out.textContent = "✔ " + t("js_sup_csv_read", { n: built.readings, events: t("js_sup_events", { n: built.events.length }) })
          + (built.breaches ? " · ⚠ " + t("js_sup_breaches", { n: built.breaches }) : "");
        out.className = "csv-result " + (built.breaches ? "warn" : "ok");
      } catch (error) { out.textContent = "✖ " + T.explain(error); }
    });
  });

  const rootButton = document.getElementById("anchor-root");
  if (rootButton) {
    rootButton.addEventListener("click", async () => {
      const items = staged();
      if (!items.length) return;
      const box = document.getElementById("staged");
      const body = { events: items.map((i) => ({ gtin14: i.gtin14, lot: i.lot, event: i.event })) };
      try {
        await T.run({
          action: "anchor_root", body, title: t("js_sup_anchor_title"),
          summary: t("js_sup_sign_root", { n: items.length }),
          // Cleared once the request is on its way (the page reloads when it is mined); put
          // back if anything fails before.
          before: async () => { sessionStorage.removeItem(STAGE_KEY); },
        });
      } catch (error) {
        sessionStorage.setItem(STAGE_KEY, JSON.stringify(items));
        box.querySelector("output").textContent = "✖ " + T.explain(error);
      }
    });
    document.getElementById("clear-staged").addEventListener("click", () => setStaged([]));
    renderStaged();
  }

  // ------------------------------------------------------------------ product details

  // A batch just registered is indexed a moment before its lot master data is read from the
  // store, so the page reloaded after its signing can show "GTIN …" for its name. Its card says
  // so (data-details-pending): the name is filled in from the page read again, without a reload
  // that would lose a form being typed. 30 tries a second apart; a store that is down stays
  // "GTIN …" until the next visit.
  const pendingCards = () => [...document.querySelectorAll(".batch-card[data-details-pending]")];
  async function fillDetails(tries) {
    if (!pendingCards().length || tries <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    try {
      const answer = await fetch(window.location.href, { headers: { Accept: "text/html" } });
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      pendingCards().forEach((card) => {
        const now = fresh.getElementById(card.id);
        if (!now || now.hasAttribute("data-details-pending")) return;
        card.querySelector("h3").replaceWith(document.importNode(now.querySelector("h3"), true));
        card.dataset.name = now.dataset.name;
        card.removeAttribute("data-details-pending");
      });
    } catch (error) { /* offline for a moment: the next try reads again */ }
    await fillDetails(tries - 1);
  }
  fillDetails(30);
})();
