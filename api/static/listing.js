// The deal-listing form (/ops/deals/new): builds the escrow's DealParams from the form, asks the
// service what createDeal would refuse and what each tier pays whom (POST /v1/ops/deals/check,
// the one Python mirror of the contract's checks and settlement arithmetic), shows both as the
// form changes, and lists the deal through wallet.js (prepare → sign → relay) only when nothing
// is refused. No rule is computed here.
(function () {
  "use strict";
  const T = window.Tuan;
  const form = document.getElementById("deal-form");
  if (!form) return;
  const decimals = Number(form.dataset.decimals || 6);
  const now = Number(form.dataset.now);
  const money = (units) => (Number(units) / 10 ** decimals).toFixed(2) + " tUSD"; // as the pages show prices
  const toUnits = (text) => Math.round(parseFloat(text) * 10 ** decimals);
  const toBps = (text) => Math.round(parseFloat(text) * 100);
  const num = (text) => (text === "" || text == null ? NaN : Number(text));
  let signerAddress = null;
  let latest = null;

  // Deadlines: the chain's clock plus the field's default offset, shown in the viewer's zone.
  const local = (seconds) => {
    const d = new Date(seconds * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  };
  form.querySelectorAll("input[type=datetime-local][data-offset]").forEach((input) => {
    if (!input.value) input.value = local(now + Number(input.dataset.offset));
  });

  function showBatches() {
    const supplier = form.elements.supplier ? form.elements.supplier.value : "";
    form.querySelectorAll(".batches").forEach((box) => {
      const mine = box.dataset.supplier === supplier;
      box.hidden = !mine;
      box.querySelectorAll("input").forEach((input) => { input.disabled = !mine; });
    });
  }

  function rows(table) { return [...document.querySelectorAll("#" + table + " tbody tr")]; }
  function renumber(table, list) {
    rows(table).forEach((row, i) => { row.dataset.field = list + "[" + i + "]"; });
  }
  function addRow(table, list) {
    const body = document.querySelector("#" + table + " tbody");
    const last = body.lastElementChild;
    const row = last.cloneNode(true);
    row.querySelectorAll("input").forEach((input) => { input.readOnly = false; input.value = ""; });
    if (!row.querySelector("button.remove")) {
      row.lastElementChild.append(Object.assign(document.createElement("button"), { type: "button", className: "remove", textContent: "✕" }));
    }
    body.append(row);
    renumber(table, list);
    changed();
  }

  function body() {
    const value = (name) => form.elements[name].value;
    const seconds = (name) => Math.floor(new Date(value(name)).getTime() / 1000);
    const data = {
      supplier: value("supplier"),
      token: form.dataset.token,
      price_tiers: rows("price-tiers").map((row) => ({
        min_quantity: num(row.querySelector("[name=tier_q]").value),
        unit_price: toUnits(row.querySelector("[name=tier_price]").value),
      })),
      min_total_quantity: num(value("min_total_quantity")),
      max_total_quantity: num(value("max_total_quantity")),
      per_buyer_limit: num(value("per_buyer_limit")),
      join_deadline: seconds("join_deadline"),
      delivery_deadline: seconds("delivery_deadline"),
      dispute_window: Math.round(num(value("dispute_window")) * 3600),
      answer_window: Math.round(num(value("answer_window")) * 3600),
      commission_bps: toBps(value("commission_bps")),
      commission_tiers: rows("commission-tiers").map((row) => ({
        min_volume: num(row.querySelector("[name=ctier_volume]").value),
        commission_bps: toBps(row.querySelector("[name=ctier_pct]").value),
      })),
      platform_fee_bps: toBps(value("platform_fee_bps") || "0"),
      batch_ids: [...form.querySelectorAll("input[name=batch]:checked:not(:disabled)")].map((i) => i.value),
    };
    data.pickup_deadline = seconds("pickup_deadline");
    data.cash_cap_per_leader = num(value("cash_cap_per_leader"));
    // An empty or unreadable number: the field says so, nothing is sent.
    const blank = [];
    for (const [key, v] of Object.entries(data)) {
      if (typeof v === "number" && !Number.isFinite(v)) blank.push(key);
    }
    data.price_tiers.forEach((tier, i) => { if (!Number.isFinite(tier.min_quantity) || !Number.isFinite(tier.unit_price)) blank.push("price_tiers[" + i + "]"); });
    data.commission_tiers.forEach((tier, i) => { if (!Number.isFinite(tier.min_volume) || !Number.isFinite(tier.commission_bps)) blank.push("commission_tiers[" + i + "]"); });
    return { data, blank };
  }

  function words(refusal) {
    const args = Object.assign({}, refusal.args);
    for (const [k, v] of Object.entries(args)) {
      if (/Deadline$/.test(k)) args[k] = T.when(v);
      if (/Window$/.test(k)) args[k] = (Number(v) / 3600).toFixed(1) + " h";
      if (/Bps$/.test(k)) args[k] = (Number(v) / 100).toFixed(2) + "%";
    }
    args.field = refusal.field;
    args.tier = refusal.field.replace(/^.*\[(\d+)\]$/, (all, i) => String(Number(i) + 1));
    const key = "js_refuse_" + refusal.error;
    return T.t(key, args) !== key ? T.t(key, args) : refusal.error + " (" + refusal.field + ")";
  }

  function clearMarks() {
    form.querySelectorAll("output.why").forEach((out) => { out.textContent = ""; });
    form.querySelectorAll(".refused").forEach((node) => node.classList.remove("refused"));
  }

  function mark(field, text) {
    const target = form.querySelector('[data-field="' + field + '"]');
    if (target) target.classList.add("refused");
    const base = field.replace(/\[\d+\]$/, "");
    const out = form.querySelector('output.why[data-for="' + field + '"]') || form.querySelector('output.why[data-for="' + base + '"]');
    if (out) out.textContent = (out.textContent ? out.textContent + " " : "") + "✖ " + text;
  }

  function render(result, blank) {
    clearMarks();
    const verdict = document.getElementById("verdict");
    // The caller's role is the page's note (#role-why), not a field: the terms are judged apart.
    const all = result ? result.refusals : [];
    const refusals = all.filter((r) => r.field !== "sender");
    const role = signerAddress ? all.find((r) => r.field === "sender") : null;
    for (const field of blank) mark(field, T.t("js_fill_in"));
    for (const refusal of refusals) mark(refusal.field, words(refusal));
    const ok = result && !refusals.length && !blank.length;
    verdict.className = "card verdict " + (ok && !role ? "ok" : "refused");
    verdict.textContent = (ok ? "✔ " + T.t("js_listing_ok")
      : "✖ " + T.t("js_listing_refused", { n: refusals.length + blank.length }))
      + (role ? " ⛔ " + words(role) : "");
    const button = document.getElementById("list-deal");
    if (button) button.disabled = !ok || !!role;
    const tbody = document.querySelector("#economics tbody");
    tbody.textContent = "";
    const economics = result ? result.economics : { tiers: [], leader_tiers: [] };
    for (const tier of economics.tiers) {
      const tr = document.createElement("tr");
      const cells = [
        "≥ " + Math.max(tier.min_quantity, 1) + " · " + T.t("js_units", { n: tier.quantity }), // a first tier "from 0" reads "from 1"
        money(tier.unit_price) + (tier.rebate_per_unit ? " (" + T.t("js_rebate", { amount: money(tier.rebate_per_unit) }) + ")" : ""),
        money(tier.leader) + " · " + (tier.leader_bps / 100).toFixed(2) + "%",
        money(tier.supplier),
        money(tier.platform),
      ];
      for (const text of cells) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
      tbody.append(tr);
    }
    const list = document.getElementById("leader-tiers");
    list.textContent = "";
    for (const tier of economics.leader_tiers) {
      list.append(Object.assign(document.createElement("li"), {
        textContent: T.t("js_leader_tier", { n: Math.max(tier.min_volume, 1), pct: (tier.bps / 100).toFixed(2), amount: money(tier.leader) }),
      }));
    }
  }

  let timer = null;
  let asked = 0;
  function changed() {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  }

  async function check() {
    const { data, blank } = body();
    const ticket = ++asked;
    if (blank.length) { latest = null; render(null, blank); return; }
    try {
      const result = await T.api("/v1/ops/deals/check", Object.assign({ from: signerAddress || "0x0000000000000000000000000000000000000001" }, data));
      if (ticket !== asked) return; // a newer check is on its way
      latest = { data, result };
      render(result, []);
    } catch (error) {
      if (ticket !== asked) return;
      latest = null;
      render(null, []);
      document.getElementById("verdict").textContent = "✖ " + T.explain(error);
    }
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", (event) => { if (event.target.name === "supplier") showBatches(); changed(); });
  form.addEventListener("click", (event) => {
    const remove = event.target.closest("button.remove");
    if (!remove) return;
    const table = remove.closest("table");
    remove.closest("tr").remove();
    renumber(table.id, table.id === "price-tiers" ? "price_tiers" : "commission_tiers");
    changed();
  });
  document.getElementById("add-price-tier").addEventListener("click", () => addRow("price-tiers", "price_tiers"));
  document.getElementById("add-commission-tier").addEventListener("click", () => addRow("commission-tiers", "commission_tiers"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await check();
    if (!latest || !latest.result.ok) return; // the form already says why
    const supplier = form.elements.supplier.selectedOptions[0].textContent;
    const out = form.querySelector("output.submit-error");
    out.textContent = "";
    try {
      await T.run({
        action: "create_deal",
        body: latest.data,
        title: T.t("js_list_deal"),
        summary: T.t("js_sign_list_deal", {
          supplier,
          price: money(latest.data.price_tiers[0].unit_price),
          tiers: T.t("js_price_tiers", { n: latest.data.price_tiers.length }),
          min: T.t("js_units", { n: latest.data.min_total_quantity }),
        }),
        next: "/?lang=" + document.documentElement.lang.slice(0, 2),
      });
    } catch (error) {
      out.textContent = "✖ " + T.explain(error);
    }
  });

  T.onSigner(async (signer) => { signerAddress = await signer.address(); check(); });
  showBatches();
  check();
})();
