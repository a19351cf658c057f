// tuanchain pages' shared client: wallets, signers, the signing steps, the relayer, uploads.
// No build step, no dependency; every page that acts loads this one file, then binds its forms
// with Tuan.bindForms() (consumer, leader, and later operator/supplier pages alike).
//
// Wallets: discovered with EIP-6963 (each injected wallet announces itself with
// "eip6963:announceProvider" when asked with "eip6963:requestProvider"; several may sit side by
// side) plus the legacy window.ethereum; all requests go through EIP-1193 provider.request().
//
// Signers: an object { kind, label, address(), signTypedData(typedData), signMessage(text) }
// (all async). Tuan.injectedSigner(provider) makes one from an EIP-1193 wallet (EOA: EIP-712
// eth_signTypedData_v4 and EIP-191 personal_sign). An ERC-4337 passkey account (issue 14,
// /static/passkey.js) is another kind ("passkey": prepare(action, body), submit(prepared)); a
// passkey remembered on the device is the page's signer unless a wallet was chosen, and run()
// gives it the same steps through the bundler.
//
// Actions: Tuan.run({ action, body, summary, before }) opens the step sheet, runs before(say)
// (uploads, said in the sheet), prepares (POST /v1/actions/{action}/prepare), shows what will be
// signed, asks the signer for each payload, posts them to POST /v1/relay, then
// follows GET /v1/relay/{id}: signing → queued → mined → the result in words, and waits for the
// index to reach the mined block before the page reloads (or goes to the form's data-next).
//
// Words come from the page: <script type="application/json" id="tuan-i18n"> ("js_*" keys of
// api/templates/i18n.json, in the page's language). A count in words is t(key, { n }): words
// that count something have a form per plural category ({"one": "{n} unit", "other": "{n}
// units"}), chosen by Intl.PluralRules in the page's language (the server's twin:
// api.render.plural_category), never "{n}" replaced by hand.
(function () {
  "use strict";
  const T = JSON.parse((document.getElementById("tuan-i18n") || {}).textContent || "{}");
  const plurals = new Intl.PluralRules(document.documentElement.lang || "zh-CN");
  // Words (a sentence, or its plural forms) with their "{name}" placeholders filled.
  const fill = (words, values) => {
    let text = words;
    if (text && typeof text === "object") text = text[plurals.select(Number((values || {}).n))] || text.other;
    for (const [k, v] of Object.entries(values || {})) text = text.split("{" + k + "}").join(v);
    return text;
  };
  const t = (key, values) => fill(T[key] || key, values);
  const STORE_KEY = "tuan.wallet";
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  };

  // ------------------------------------------------------------------ HTTP

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || "HTTP " + status);
      this.status = status;
      this.code = body && body.code;
      this.details = body && body.details;
    }
  }

  // How long the service may take to answer one call: a hung request (a dead connection, a
  // stalled proxy) becomes an error the sheet explains and offers to try again, not a spinner
  // forever. Uploads carry photos over a phone's connection: they get longer.
  const SERVICE_TIMEOUT_MS = 20000;
  const UPLOAD_TIMEOUT_MS = 120000;

  // fetch, then its JSON body (null when it has none), within ``limit`` ms: a timeout throws
  // code "timeout", a failed connection code "network" (both said in words, both retryable).
  async function fetchJson(url, init, limit) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), limit || SERVICE_TIMEOUT_MS);
    try {
      const response = await fetch(url, Object.assign({}, init, { signal: controller.signal }));
      const data = response.status === 204 ? {} : await response.json().catch(() => null);
      return { response, data };
    } catch (error) {
      const code = controller.signal.aborted ? "timeout" : "network";
      throw Object.assign(new Error(t("js_err_" + code)), { code, cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  async function api(url, body) {
    const init = body === undefined ? {} : {
      method: "POST",
      headers: body instanceof FormData ? {} : { "Content-Type": "application/json" },
      body: body instanceof FormData ? body : JSON.stringify(body),
    };
    init.headers = Object.assign({ Accept: "application/json" }, init.headers || {});
    const { response, data } = await fetchJson(url, init, body instanceof FormData ? UPLOAD_TIMEOUT_MS : SERVICE_TIMEOUT_MS);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // A call on the Sign-In with Ethereum session (its HttpOnly cookie): PUT/DELETE/POST with a JSON
  // body; an error carries the API's message and code (for explain); 204 gives {}.
  async function sessionCall(method, url, body) {
    const answer = await fetchJson(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const response = answer.response;
    const data = answer.data || {};
    if (!response.ok) throw Object.assign(new Error(data.message || "HTTP " + response.status), { code: data.code, details: data.details });
    return data;
  }

  // An error in words: js_err_<code> for the API's code (snake_case) or the contract error's name
  // (details.error, e.g. DealClosed), else the API's message.
  function explain(error) {
    if (error && error.code === 4001) return t("js_rejected"); // EIP-1193 user rejection
    const names = [error && error.code, error && error.details && error.details.error];
    for (const name of names) {
      if (typeof name === "string" && T["js_err_" + name]) return T["js_err_" + name];
    }
    // A service-side failure without words of its own: one sentence per status.
    if (error && error.status >= 500 && T["js_err_http_" + error.status]) return T["js_err_http_" + error.status];
    return (error && error.message) || String(error);
  }

  // ------------------------------------------------------------------ wallets (EIP-6963)

  const announced = new Map(); // uuid -> { info, provider }
  window.addEventListener("eip6963:announceProvider", (event) => {
    const detail = event.detail || {};
    if (detail.info && detail.provider) announced.set(detail.info.uuid, detail);
  });

  // Every wallet on the page: the EIP-6963 announcements, and window.ethereum if no announced
  // wallet is that same object.
  async function discover() {
    window.dispatchEvent(new Event("eip6963:requestProvider"));
    await sleep(150); // announcements answer synchronously or nearly; a short grace suffices
    const wallets = [...announced.values()];
    const legacy = window.ethereum;
    if (legacy && !wallets.some((w) => w.provider === legacy)) {
      wallets.push({ info: { uuid: "legacy", name: t("js_browser_wallet"), rdns: "window.ethereum", icon: "" }, provider: legacy });
    }
    return wallets;
  }

  // A signer from an EIP-1193 provider (an externally owned account).
  async function injectedSigner(wallet) {
    const provider = wallet.provider;
    const [account] = await provider.request({ method: "eth_requestAccounts" });
    if (!account) throw new Error(t("js_no_account"));
    return {
      kind: "eoa",
      label: wallet.info.name,
      rdns: wallet.info.rdns,
      address: async () => account,
      signTypedData: (typedData) => provider.request({
        method: "eth_signTypedData_v4", params: [account, JSON.stringify(typedData)],
      }),
      signMessage: (text) => provider.request({ method: "personal_sign", params: [utf8Hex(text), account] }),
    };
  }

  function utf8Hex(text) {
    return "0x" + [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  let current = null;
  const listeners = [];
  function useSigner(signer) {
    current = signer;
    if (signer && signer.kind === "passkey") localStorage.setItem(STORE_KEY, "passkey");
    listeners.forEach((fn) => fn(signer));
  }
  function onSigner(fn) { listeners.push(fn); if (current) fn(current); }

  // A passkey account remembered on this device (/static/passkey.js), unless a wallet was chosen.
  function rememberedPasskey() {
    if (localStorage.getItem(STORE_KEY) || !window.TuanPasskey) return null;
    const signer = window.TuanPasskey.signer();
    if (signer) signer.label = t("js_passkey");
    return signer;
  }

  // Connect: a remembered passkey, the remembered wallet, the only one, or the one the person
  // picks.

  // Connect: the remembered wallet, the only one, or the one the person picks.
  const PASSKEY = { info: { uuid: "passkey", name: "Passkey", rdns: "passkey", icon: "" } };

  function passkeySigner() {
    return window.TuanPasskey && window.TuanPasskey.signer ? window.TuanPasskey.signer() : null;
  }

  async function connect(pick) {
    if (current) return current;
    const passkey = rememberedPasskey();
    if (passkey) { useSigner(passkey); return passkey; }
    const wallets = await discover();
    if (passkeySigner()) wallets.push(PASSKEY); // a passkey account made on /passkey
    if (!wallets.length) throw Object.assign(new Error(t("js_no_wallet")), { code: "no_wallet" });
    const remembered = localStorage.getItem(STORE_KEY);
    let wallet = wallets.find((w) => w.info.rdns === remembered);
    if (!wallet) wallet = wallets.length === 1 ? wallets[0] : await (pick || chooseWallet)(wallets);
    const signer = wallet === PASSKEY ? passkeySigner() : await injectedSigner(wallet);
    localStorage.setItem(STORE_KEY, wallet.info.rdns);
    useSigner(signer);
    return signer;
  }

  // What a passkey account can do (api.bundler.actions.PASSKEY_ACTIONS, on the wallet bar).
  function passkeyCan(action) {
    const bar = document.getElementById("wallet-bar");
    const actions = ((bar && bar.dataset.passkeyActions) || "").split(" ").filter(Boolean);
    return !actions.length || actions.includes(action);
  }

  // A wallet (an extension) instead of the passkey remembered here: chosen and remembered.
  async function useWallet() {
    const wallets = await discover();
    if (!wallets.length) throw Object.assign(new Error(t("js_no_wallet")), { code: "no_wallet" });
    const wallet = wallets.length === 1 ? wallets[0] : await chooseWallet(wallets);
    const signer = await injectedSigner(wallet);
    localStorage.setItem(STORE_KEY, wallet.info.rdns);
    useSigner(signer);
    return signer;
  }

  function chooseWallet(wallets) {
    return new Promise((resolve, reject) => {
      const sheet = panel(t("js_choose_wallet"));
      for (const wallet of wallets) {
        const icon = wallet.info.icon ? el("img", { src: wallet.info.icon, alt: "", width: "24", height: "24" }) : "";
        sheet.body.append(el("button", {
          class: "wallet-choice", type: "button",
          onclick: () => { sheet.close(); resolve(wallet); },
        }, icon, " ", wallet.info.name));
      }
      sheet.onCancel(() => reject(new Error(t("js_rejected"))));
    });
  }

  // ------------------------------------------------------------------ the step panel

  // A bottom sheet (<dialog>): a title, a body, and a close button.
  function panel(title) {
    const old = document.getElementById("tuan-steps");
    if (old) old.remove();
    const body = el("div", { class: "sheet-body" });
    let cancel = () => {};
    const closeButton = el("button", { class: "sheet-close", type: "button", "aria-label": t("js_close") }, "✕");
    const dialog = el("dialog", { id: "tuan-steps", class: "sheet" }, el("h2", {}, title), closeButton, body);
    document.body.append(dialog);
    closeButton.addEventListener("click", () => { dialog.close(); cancel(); });
    dialog.addEventListener("cancel", () => cancel());
    dialog.showModal();
    return { dialog, body, close: () => dialog.close(), onCancel: (fn) => { cancel = fn; } };
  }

  const STEPS = ["review", "signing", "queued", "mined", "result"];

  function stepList(body, signOnly) {
    const list = el("ol", { class: "steps" });
    for (const step of STEPS) {
      if (signOnly && (step === "queued" || step === "mined")) continue; // nothing is sent
      list.append(el("li", { "data-step": step }, t("js_step_" + step)));
    }
    body.append(list);
    return (step, state, note) => {
      const item = list.querySelector('[data-step="' + step + '"]');
      if (!item) return;
      item.className = state; // active | done | failed
      if (note !== undefined) {
        let small = item.querySelector(".note");
        if (!small) item.append(small = el("div", { class: "note small" }));
        small.textContent = note;
      }
    };
  }

  const USD = (value) => (Number(value) / 1e6).toFixed(2);
  // A zone named by its offset east of UTC in minutes: "UTC", "UTC+8", "UTC-3:30". Twin of
  // api.timefmt.zone_label (one rule: change both or neither).
  const zoneLabel = (minutes) => {
    const abs = Math.abs(minutes);
    return minutes === 0 ? "UTC"
      : "UTC" + (minutes > 0 ? "+" : "-") + Math.floor(abs / 60) + (abs % 60 ? ":" + String(abs % 60).padStart(2, "0") : "");
  };
  // The one form of a time, twin of api.render.format_time: the wall clock and its zone named
  // ("2026-12-01 20:24 UTC+8"), here in the phone's own zone (the server prints UTC; it cannot
  // know the reader's). Unix seconds (a deadline) or an ISO 8601 time (a notice's).
  const when = (value) => {
    const moment = /^\d+$/.test(String(value)) ? new Date(Number(value) * 1000) : new Date(value);
    const pad = (n) => String(n).padStart(2, "0");
    return moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate())
      + " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes())
      + " " + zoneLabel(-moment.getTimezoneOffset()); // that moment's offset (summer time too)
  };

  // What each payload lets happen, in words (from the typed data itself, not from the page).
  function describePayload(name, typed) {
    const m = typed.message || {};
    if (typed.primaryType === "Permit") {
      return t("js_sign_permit", { amount: USD(m.value), token: typed.domain.name, until: when(m.deadline) });
    }
    if (typed.primaryType === "ForwardRequest") {
      return t("js_sign_request", { nonce: m.nonce, until: when(m.deadline) });
    }
    if (typed.primaryType === "Handover") {
      return t("js_sign_handover", { n: m.quantity, deal: m.dealId, until: when(m.expiry) });
    }
    return name + ": " + typed.primaryType;
  }

  // A failure worth trying again as it was: the service did not answer (in time), or failed on
  // its side. A refusal (the contract's, the person's own) is not: it would only fail again.
  const retryable = (error) => Boolean(error) && (error.code === "timeout" || error.code === "network"
    || (error.status >= 500 && error.status !== 504)); // 504: the chain may yet confirm it

  // Prepare → review → sign → relay → follow. Resolves with the mined request, or throws.
  // With signOnly: prepare → review → sign, resolving with { prepared, signatures, from }.
  // A retryable failure offers "Try again" in the sheet: the whole attempt runs again, and
  // the caller's promise resolves with it (closing the sheet rejects it with the failure).
  async function run(options) {
    for (;;) {
      const outcome = await attempt(options);
      if (!outcome.retry) return outcome.value;
    }
  }

  async function attempt(options) {
    const sheet = panel(options.title || t("js_confirm"));
    const mark = stepList(sheet.body, options.signOnly);
    const review = el("div", { class: "review" });
    const status = el("p", { class: "status-line", role: "status" });
    sheet.body.append(review, status);
    // Closing the sheet stops the attempt at whatever step it waits on (a wallet that never
    // answers included), not only at the review.
    let stop;
    const stopped = new Promise((resolve, reject) => { stop = reject; });
    stopped.catch(() => {});
    sheet.onCancel(() => stop(new Error(t("js_rejected"))));
    const step = (promise) => Promise.race([promise, stopped]);
    try {
      mark("review", "active");
      const signer = await step(connect());
      // A leader's or a supplier's action from a passkey account: said before any upload or
      // signature (the paymaster pays for consumers' actions only), with the way on.
      if (signer.kind === "passkey" && !options.signOnly && !passkeyCan(options.action)) {
        throw Object.assign(new Error(t("js_err_needs_wallet")), { code: "needs_wallet" });
      }
      const from = await step(signer.address());
      if (options.before) await step(options.before((text) => { status.textContent = text; }));
      // EOA: EIP-712 payloads for the relayer. Passkey account (ERC-4337): a sponsored user
      // operation for the bundler, prepared by the service; its hash is the passkey's challenge.
      // signOnly (a pickup code): typed data signed by either kind (a passkey through ERC-1271),
      // handed back to the page instead of being sent.
      const signOnly = Boolean(options.signOnly);
      const account = signer.kind === "passkey" && !signOnly;
      const prepared = await step(account ? signer.prepare(options.action, options.body)
        : api("/v1/actions/" + options.action + "/prepare", Object.assign({ from }, options.body)));
      review.append(el("p", { class: "summary" }, options.summary || options.action));
      const items = el("ul", { class: "signed" });
      if (account) items.append(el("li", {}, t("js_sign_userop", { nonce: parseInt(prepared.userOperation.nonce, 16) })));
      else for (const [name, typed] of Object.entries(prepared.payloads)) items.append(el("li", {}, describePayload(name, typed)));
      review.append(items, el("p", { class: "small" }, t("js_signer", { who: signer.label, address: from })));
      const go = el("button", { type: "button", class: "primary", "data-sign": "" }, t("js_sign"));
      review.append(go);
      await step(new Promise((resolve) => go.addEventListener("click", resolve, { once: true })));
      go.remove();
      mark("review", "done");
      mark("signing", "active");
      if (signOnly) {
        const signatures = {};
        for (const [name, typed] of Object.entries(prepared.payloads)) signatures[name] = await step(signer.signTypedData(typed));
        mark("signing", "done");
        mark("result", "done", options.done || t("js_done"));
        sheet.close();
        return { value: { prepared, signatures, from } };
      }
      const mined = await step(account ? bundled(signer, prepared, mark) : relayed(signer, prepared, mark));
      mark("result", "done", options.done || t("js_done"));
      status.textContent = t("js_updating");
      await step(indexed(mined.block_number));
      status.textContent = t("js_done");
      sheet.close();
      if (options.next) window.location.assign(options.next.replace("{address}", from));
      else window.location.reload();
      return { value: mined };
    } catch (error) {
      const active = sheet.body.querySelector("li.active");
      if (active) mark(active.dataset.step, "failed");
      mark("result", "failed", explain(error));
      status.textContent = "✖ " + explain(error);
      status.classList.add("error");
      if (error && error.code === "no_wallet") offerPasskey(sheet.body);
      if (error && error.code === "insufficient_balance" && current && current.kind === "passkey") offerBalance(sheet.body);
      if (error && error.code === "needs_wallet" && sheet.dialog.open) {
        // The way on: sign with a wallet on this phone instead, then the same action again.
        const wallet = el("button", { type: "button", class: "primary", "data-use-wallet": "" }, t("js_use_wallet"));
        sheet.body.append(wallet);
        await new Promise((resolve, reject) => {
          wallet.addEventListener("click", () => useWallet().then(resolve, (failed) => {
            status.textContent = "✖ " + explain(failed);
            if (failed && failed.code === "no_wallet") offerPasskey(sheet.body);
          }));
          sheet.onCancel(() => reject(error));
        });
        return { retry: true };
      }
      if (!retryable(error) || !sheet.dialog.open) throw error;
      const again = el("button", { type: "button", class: "primary", "data-retry": "" }, t("js_retry"));
      sheet.body.append(again);
      await new Promise((resolve, reject) => {
        again.addEventListener("click", resolve, { once: true });
        sheet.onCancel(() => reject(error));
      });
      return { retry: true };
    }
  }

  // No wallet on this phone: the way on is a passkey (the wallet bar's link, which brings one
  // back to this page), not a dead end.
  function offerPasskey(body) {
    const passkeyLink = document.querySelector("#wallet-bar .passkey-link");
    if (passkeyLink) body.append(el("a", { class: "go-on", href: passkeyLink.getAttribute("href"), "data-passkey": "" }, t("js_use_passkey")));
  }

  // Not enough money in a passkey account: its page (balance, and test tokens on a local chain),
  // which brings one back here.
  function offerBalance(body) {
    const passkeyLink = document.querySelector("#wallet-bar .passkey-link");
    if (passkeyLink) body.append(el("a", { class: "go-on", href: passkeyLink.getAttribute("href"), "data-balance": "" }, t("js_see_balance")));
  }

  // EOA: sign each payload, hand them to the relayer (POST /v1/relay), follow the outbox row.
  async function relayed(signer, prepared, mark) {
    const signatures = {};
    for (const [name, typed] of Object.entries(prepared.payloads)) {
      signatures[name] = await signer.signTypedData(typed);
    }
    mark("signing", "done");
    mark("queued", "active");
    const accepted = await api("/v1/relay", { payloads: prepared.payloads, signatures, details: prepared.details });
    return follow(accepted.id, mark);
  }

  // Passkey account: the passkey signs the operation's hash, the bundler includes it (the
  // platform's paymaster pays the gas); follow it to its receipt.
  async function bundled(signer, prepared, mark) {
    const receipt = await signer.submit(prepared, (step) => {
      if (step === "sent") { mark("signing", "done"); mark("queued", "active"); }
    });
    if (!receipt.success) {
      const error = new Error(receipt.reason || "reverted");
      error.code = (receipt.reason || "").split(":")[0];
      throw error;
    }
    const block = parseInt(receipt.receipt.blockNumber, 16);
    mark("signing", "done");
    mark("queued", "done");
    mark("mined", "done", t("js_block", { block }));
    return { block_number: block, receipt };
  }

  // How long a relayed request is followed before the sheet says to look later (it may still
  // be mined: trying again could send it twice, so this is not a retryable failure).
  const FOLLOW_MS = 5 * 60 * 1000;

  async function follow(id, mark) {
    const until = Date.now() + FOLLOW_MS;
    for (;;) {
      if (Date.now() > until) throw Object.assign(new Error(t("js_err_not_confirmed")), { code: "not_confirmed" });
      const row = await api("/v1/relay/" + encodeURIComponent(id));
      if (row.status === "mined") {
        mark("queued", "done");
        mark("mined", "done", t("js_block", { block: row.block_number }));
        return row;
      }
      if (row.status === "failed") {
        const error = new Error((row.error && (row.error.message || row.error.code)) || "failed");
        error.code = row.error && row.error.code;
        throw error;
      }
      mark("queued", "active", t("js_relay_" + row.status));
      await sleep(500);
    }
  }

  // Wait until the index has the block (so the reloaded page shows the change); 30 s at most.
  async function indexed(block) {
    for (let i = 0; i < 60 && block; i += 1) {
      const health = await fetchJson("/healthz", {}).then((answer) => answer.data).catch(() => null);
      if (health && health.index && health.index.last_block >= block) return;
      await sleep(500);
    }
  }

  // ------------------------------------------------------------------ uploads

  async function sha256Hex(bytes) {
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  // POST /v1/documents: the signer signs "tuanchain document upload / sha256 / timestamp".
  async function upload(blob, dealId) {
    const signer = await connect();
    // Uploads are signed with personal_sign (EIP-191): an EOA's, recovered by the server, or a
    // passkey account's through ERC-1271 (passkey.js signMessage; isValidSignature on chain).
    if (typeof signer.signMessage !== "function") throw new Error(t("js_upload_needs_wallet"));
    const address = await signer.address();
    const bytes = await blob.arrayBuffer();
    const timestamp = Math.floor(Date.now() / 1000);
    const message = "tuanchain document upload\nsha256: " + (await sha256Hex(bytes)) + "\ntimestamp: " + timestamp;
    const form = new FormData();
    form.append("file", blob, blob.name || "document");
    form.append("address", address);
    form.append("timestamp", String(timestamp));
    form.append("signature", await signer.signMessage(message));
    if (dealId) form.append("deal_id", String(dealId));
    return api("/v1/documents", form);
  }

  // Sign-In with Ethereum (EIP-4361): the service's message signed by the page's signer; the
  // session is an HttpOnly cookie. Needed to upload or open personal data (the private store).
  // A passkey account signs it like an upload (ERC-1271, checked on chain by the service).
  let signedIn = null;
  async function signIn() {
    const signer = await connect();
    const address = await signer.address();
    if (signedIn === address) return address;
    const challenge = await api("/v1/auth/nonce", { address });
    const signature = await signer.signMessage(challenge.message);
    await api("/v1/auth/verify", { message: challenge.message, signature });
    signedIn = address;
    return address;
  }

  // POST /v1/documents/private: personal data (credentials, contact, claim photos) sealed by the
  // service and never on the public gateway; what the chain gets is the returned 0x SHA-256 (or
  // its CIDv1 raw, where a contract takes a CID). Claim evidence names its deal.
  async function uploadPrivate(blob, purpose, dealId) {
    await signIn();
    const form = new FormData();
    form.append("file", blob, blob.name || "document");
    form.append("purpose", purpose);
    if (dealId) form.append("deal_id", String(dealId));
    return api("/v1/documents/private", form);
  }

  // ------------------------------------------------------------------ declarative forms

  // <form data-action="cancel" data-summary="…" data-next="/orders/…"> with inputs named as the
  // prepare endpoint's parameters. data-number="deal_id quantity" marks numeric fields;
  // <input type="file" data-photos="photos"> uploads each photo first and sends their CIDs
  // (as a list named by the attribute); data-evidence keeps them in the private store instead,
  // with a claim-evidence document listing them and the note (its CID goes on chain: only the
  // buyer, the deal's supplier and the arbiters can open it);
  // <input type="file" data-private="credentials_digest" data-purpose="credential"> goes to the
  // private store instead (after signing in) and sends the file's SHA-256 under that name.
  // "{name}" in a form's summary: the field's value as the person sees it (a select's label).
  // A summary that counts what a field holds (data-count="quantity") is words as JSON, its
  // plural forms chosen by that field's value (the template's t_for_script(...)|tojson).
  function fillIn(form, text) {
    const count = form.dataset.count && form.elements.namedItem(form.dataset.count);
    if (count) text = fill(JSON.parse(text), { n: count.value });
    return (text || "").replace(/\{(\w+)\}/g, (whole, name) => {
      const field = form.elements.namedItem(name);
      if (!field) return whole;
      if (field.tagName === "SELECT") return field.selectedOptions[0] ? field.selectedOptions[0].textContent : "";
      return field.value;
    });
  }

  function bindForms(root) {
    (root || document).querySelectorAll("form[data-action]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const button = form.querySelector("button[type=submit]");
        if (button) button.disabled = true;
        try {
          const body = {};
          const numbers = (form.dataset.number || "").split(" ").filter(Boolean);
          for (const [key, value] of new FormData(form).entries()) {
            if (typeof value !== "string" || value === "") continue; // optional, left empty
            body[key] = numbers.includes(key) ? Number(value) : value;
          }
          // Files are uploaded inside the step sheet, which says so before the wallet asks.
          const files = [...form.querySelectorAll("input[type=file]")].filter((input) => input.files.length);
          const before = files.length ? async (say) => {
            say(t("js_uploading"));
            for (const input of files.filter((i) => i.dataset.private !== undefined)) {
              const stored = await uploadPrivate(input.files[0], input.dataset.purpose || "credential");
              body[input.dataset.private] = stored.digest;
            }
            for (const input of files.filter((i) => i.dataset.evidence !== undefined)) {
              const photos = [];
              for (const file of input.files) {
                const stored = await uploadPrivate(file, "claim_evidence", body.deal_id);
                photos.push("sha256:" + stored.sha256);
              }
              const evidence = new Blob([JSON.stringify({
                type: "tuanchain:ClaimEvidence", deal_id: body.deal_id, photos, note: body.note || "",
              })], { type: "application/json" });
              evidence.name = "evidence.json";
              body.evidence_cid = (await uploadPrivate(evidence, "claim_evidence", body.deal_id)).cid;
              delete body.note;
            }
            for (const input of files.filter((i) => i.dataset.private === undefined && i.dataset.evidence === undefined)) {
              const cids = [];
              for (const file of input.files) cids.push((await upload(file, body.deal_id)).cid);
              if (input.dataset.photos) body[input.dataset.photos] = cids;
            }
            say("");
          } : null;
          await run({
            action: form.dataset.action,
            body,
            before,
            summary: fillIn(form, form.dataset.summary),
            title: form.dataset.title,
            next: form.dataset.next,
          });
        } catch (error) {
          const out = form.querySelector("output");
          if (out) out.textContent = "✖ " + explain(error);
          if (!document.getElementById("tuan-steps")) console.error(error);
        } finally {
          if (button) button.disabled = false;
        }
      });
    });
  }

  // The wallet bar: connect, show who is signing (by name when the page knows it), and go to
  // "my orders" / "my group". Pages put <div id="wallet-bar" data-me="/orders/{address}">.
  function bindWalletBar() {
    const bar = document.getElementById("wallet-bar");
    if (!bar) return;
    const button = bar.querySelector("button");
    const who = bar.querySelector(".who");
    // The passkey link's next= is the page the service was asked for, without its fragment (a
    // share link's #deal-N never reaches it): added here, so a person who makes a passkey on
    // the way comes back to the deal they were sent to.
    const passkeyNext = () => {
      const link = bar.querySelector(".passkey-link");
      const url = link && new URL(link.getAttribute("href"), location.href);
      if (!url || !url.searchParams.has("next")) return;
      url.searchParams.set("next", url.searchParams.get("next").split("#")[0] + location.hash);
      link.setAttribute("href", url.pathname + url.search);
    };
    passkeyNext();
    window.addEventListener("hashchange", passkeyNext);
    button.addEventListener("click", async () => {
      try {
        await connect();
      } catch (error) {
        if (error && error.code === "no_wallet") {
          // Said in a sheet with the way on, not squeezed into the bar's few characters.
          const sheet = panel(t("js_connect_wallet"));
          sheet.body.append(el("p", { class: "status-line error", role: "status" }, "✖ " + explain(error)));
          offerPasskey(sheet.body);
        } else {
          who.textContent = explain(error);
        }
      }
    });
    onSigner(async (signer) => {
      let address;
      try {
        address = await signer.address();
      } catch (error) {
        // Signed in, but who is not known yet (the service did not answer): said, not "not
        // connected" with a connect button that would not help.
        who.textContent = signer.label + " · " + t("js_account_unreachable");
        who.title = explain(error);
        button.hidden = true;
        const passkeyLink = bar.querySelector(".passkey-link");
        if (passkeyLink) passkeyLink.hidden = true;
        bar.append(el("a", { href: location.href, class: "retry small" }, t("js_retry")));
        return;
      }
      who.textContent = signer.label + " · " + address.slice(0, 6) + "…" + address.slice(-4);
      button.hidden = true;
      const passkeyLink = bar.querySelector(".passkey-link");
      if (passkeyLink) passkeyLink.hidden = true;
      bar.querySelectorAll("a[data-href]").forEach((a) => {
        a.href = a.dataset.href.replace("{address}", address);
        a.hidden = false;
      });
      // Someone else's orders (a link, an address looked up): their buttons would act for the
      // signed-in account, which has no such order; said before a tap, with the way to one's own.
      document.querySelectorAll(".not-yours[data-owner]").forEach((note) => {
        if (note.dataset.owner.toLowerCase() === address.toLowerCase()) return;
        note.querySelectorAll("a[data-href]").forEach((a) => { a.href = a.dataset.href.replace("{address}", address); });
        note.hidden = false;
        // Titled with the owner's name or address, not "my orders" (orders.html's h1).
        const heading = document.querySelector("h1[data-theirs]");
        if (heading && heading.textContent !== heading.dataset.theirs) {
          document.title = document.title.replace(heading.textContent, heading.dataset.theirs);
          heading.textContent = heading.dataset.theirs;
        }
      });
      if (bar.dataset.go && !location.pathname.includes(address)) {
        location.assign(bar.dataset.go.replace("{address}", address));
      }
    });
    // Reconnect silently to a passkey or a wallet chosen before (eth_accounts: no prompt).
    const passkey = rememberedPasskey();
    if (passkey && !current) { useSigner(passkey); return; }
    discover().then(async (wallets) => {
      const remembered = localStorage.getItem(STORE_KEY);
      if (remembered === "passkey" && passkeySigner() && !current) { useSigner(passkeySigner()); return; }
      const wallet = wallets.find((w) => w.info.rdns === remembered);
      if (!wallet || current) return;
      const accounts = await wallet.provider.request({ method: "eth_accounts" }).catch(() => []);
      if (accounts && accounts.length) useSigner(await injectedSigner(wallet));
    });
  }

  // A notice's words with the deadline they name (notice.until: the server printed it in UTC,
  // as format_time prints a UTC moment) in the phone's zone, as api.render.with_time marks it.
  function noticeText(notice) {
    if (!notice.until) return [notice.text];
    const printed = new Date(notice.until).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    const [before, ...after] = notice.text.split(printed);
    if (!after.length) return [notice.text];
    return [before, el("time", { datetime: notice.until }, when(notice.until)), after.join(printed)];
  }

  // Live notices: <section id="notices" data-stream="/v1/notices/{address}/stream"> gets each new
  // notice on top as the indexer sees it (server-sent events), and a "refresh" link appears.
  function liveNotices() {
    const box = document.querySelector("#notices[data-stream]");
    if (!box || !window.EventSource) return;
    const list = box.querySelector("ul.notices");
    const source = new EventSource(box.dataset.stream);
    source.addEventListener("notice", (event) => {
      const notice = JSON.parse(event.data);
      if (list.querySelector('[data-id="' + CSS.escape(notice.id) + '"]')) return;
      list.prepend(el("li", { "data-kind": notice.kind, "data-id": notice.id, class: "new" },
        el("span", { class: "small" }, el("time", { datetime: notice.time }, when(notice.time))), " ", ...noticeText(notice)));
      box.querySelectorAll(".refresh").forEach((p) => { p.hidden = false; });
      box.querySelectorAll(".empty").forEach((p) => p.remove());
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // Countdowns to 截单 (<span class="countdown" data-seconds="…">), ticking each minute.
  function countdowns() {
    const started = Date.now();
    const items = [...document.querySelectorAll(".countdown[data-seconds]")];
    if (!items.length) return;
    const tick = () => {
      const gone = Math.floor((Date.now() - started) / 1000);
      for (const item of items) {
        const left = Math.max(0, Number(item.dataset.seconds) - gone);
        const d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600), m = Math.floor((left % 3600) / 60);
        item.textContent = left <= 0 ? t("js_closed")
          : t("js_closes_in") + " " + (d ? d + t("js_d") + " " + h + t("js_h") : h + t("js_h") + " " + m + t("js_min"));
      }
    };
    setInterval(tick, 60000);
  }

  // A time typed into a datetime-local field is the phone's wall clock: <span data-local-zone>
  // says which zone that is, named as every printed time names its own (UTC+8).
  function localZones() {
    const zone = zoneLabel(-new Date().getTimezoneOffset());
    document.querySelectorAll("[data-local-zone]").forEach((span) => { span.textContent = t("js_local_zone", { zone }); });
  }

  // Every moment the server printed in UTC (<time datetime="…Z" data-local>, api.render.time_tag)
  // shown in the phone's zone, as the times typed and the live ones are. Times without
  // data-local keep the offset they were printed with (an EPCIS event: where it happened).
  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local][datetime]").forEach((item) => {
      item.textContent = when(item.getAttribute("datetime"));
    });
  }

  window.Tuan = { api, explain, discover, connect, injectedSigner, useSigner, onSigner, run, upload, uploadPrivate, signIn, sessionCall, bindForms, t, fill, when };
  document.addEventListener("DOMContentLoaded", () => {
    // Every deferred script has run by now (DOMContentLoaded waits for them): the forms are
    // bound. Before this, a form's method="dialog" makes a tap do nothing rather than a native
    // submission (a GET of this page with the fields, the tap lost); the style dims them.
    document.documentElement.dataset.js = "ready";
    bindWalletBar();
    bindForms();
    liveNotices();
    countdowns();
    localZones();
    localTimes();
  });
})();
