// Passkey signer for pages: an ERC-4337 passkey account (EntryPoint v0.8), no wallet, no gas.
//
// TuanPasskey.create()  — navigator.credentials.create (P-256, user verification, RP ID = this
//                         page's host: "localhost" in development; an RP ID cannot be an IP).
//                         The public key (qx, qy) and credential id are kept in localStorage.
// TuanPasskey.signer()  — the remembered passkey as the pages' signer shape:
//                         { kind: "passkey", label, address(), account(), prepare(action, body),
//                         submit(prepared, onStatus), perform(action, body, onStatus) } —
//                         perform = POST /v1/actions/{action}/prepare-userop →
//                         navigator.credentials.get (challenge = userOpHash) → low-s WebAuthn
//                         signature, ABI-encoded as the account reads it → eth_sendUserOperation
//                         at /v1/bundler → eth_getUserOperationReceipt until mined.
// The counterfactual address comes from the factory (GET /v1/passkeys/account); the account is
// deployed by its first operation, and the platform's paymaster pays every operation's gas.
// The pages' shared client (wallet.js) uses a remembered passkey as the page's signer, and its
// step sheet (Tuan.run) drives prepare → review → submit for the passkey actions.
(function () {
  "use strict";
  const STORE_KEY = "tuan.passkey";
  // P-256 group order: OpenZeppelin's P256 refuses s > n/2, browsers return random s.
  const N = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  const HALF_N = N / 2n;
  const ENC = new TextEncoder();
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const FOLLOW_MS = 5 * 60 * 1000;

  // ------------------------------------------------------------------ bytes

  const hex = (bytes) => "0x" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  function unhex(text) {
    const clean = text.startsWith("0x") ? text.slice(2) : text;
    const out = new Uint8Array(clean.length / 2);
    for (let i = 0; i < out.length; i += 1) out[i] = parseInt(clean.substr(i * 2, 2), 16);
    return out;
  }
  function b64url(bytes) {
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64url(text) {
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  const bigOf = (bytes) => BigInt(hex(bytes));

  // ------------------------------------------------------------------ ABI (the two shapes used)

  function word(value) {
    const out = new Uint8Array(32);
    let v = BigInt(value);
    for (let i = 31; i >= 0; i -= 1) { out[i] = Number(v & 0xffn); v >>= 8n; }
    return out;
  }
  // length word + data right-padded to 32 bytes (``bytes`` / ``string`` tails)
  function dynamic(bytes) {
    const padded = new Uint8Array(Math.ceil(bytes.length / 32) * 32);
    padded.set(bytes);
    return concat(word(bytes.length), padded);
  }
  // abi.encode(bytes32 r, bytes32 s, uint256 challengeIndex, uint256 typeIndex, bytes authData,
  // string clientDataJSON): OpenZeppelin WebAuthn's flat tuple.
  function encodeAssertion(a) {
    const auth = dynamic(a.authenticatorData);
    return concat(
      word(a.r), word(a.s), word(a.challengeIndex), word(a.typeIndex),
      word(6 * 32), word(6 * 32 + auth.length), auth, dynamic(a.clientDataJSON),
    );
  }
  // abi.encode(bytes[] signers, bytes[] signatures), one element each: MultiSignerERC7913.
  function encodeAccountSignature(signer, signature) {
    const array = (item) => concat(word(1), word(32), dynamic(item));
    const first = array(signer);
    return concat(word(64), word(64 + first.length), first, array(signature));
  }

  // The low form of s (n − s when s > n/2): the same signature, the one the account accepts.
  const lowS = (s) => (s > HALF_N ? N - s : s);

  // DER ECDSA signature → (r, s)
  function parseDer(der) {
    let at = 2;
    if (der[1] & 0x80) at += der[1] & 0x7f;
    const int = () => {
      if (der[at] !== 0x02) throw new Error("bad DER signature");
      const len = der[at + 1];
      const value = bigOf(der.slice(at + 2, at + 2 + len));
      at += 2 + len;
      return value;
    };
    const r = int();
    const s = int();
    return { r, s };
  }

  // ------------------------------------------------------------------ HTTP

  // A call the service does not answer within this long fails with code "timeout" (a failed
  // connection: "network"), in the page's words, as wallet.js's calls do: never a spinner forever.
  const SERVICE_TIMEOUT_MS = 20000;

  async function api(url, body) {
    const init = body === undefined ? { headers: { Accept: "application/json" } } : {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    };
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), SERVICE_TIMEOUT_MS);
    let response, data;
    try {
      response = await fetch(url, Object.assign(init, { signal: controller.signal }));
      data = await response.json().catch(() => null);
    } catch (error) {
      const code = controller.signal.aborted ? "timeout" : "network";
      throw Object.assign(new Error(pageWords()["js_err_" + code] || code), { code, cause: error });
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      const error = new Error((data && data.message) || "HTTP " + response.status);
      error.code = data && data.code;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  let rpcId = 0;
  async function bundler(method, params) {
    rpcId += 1;
    const answer = await api("/v1/bundler", { jsonrpc: "2.0", id: rpcId, method, params });
    if (answer.error) {
      const error = new Error(answer.error.message);
      error.code = answer.error.code;
      error.data = answer.error.data;
      throw error;
    }
    return answer.result;
  }

  // ------------------------------------------------------------------ the passkey

  const pageWords = () => JSON.parse((document.getElementById("tuan-i18n") || {}).textContent || "{}");
  const remembered = () => JSON.parse(localStorage.getItem(STORE_KEY) || "null");

  // A WebAuthn RP ID is a registrable host name: an IP address (127.0.0.1) cannot have passkeys.
  function hostIsIp() {
    return /^[\d.]+$/.test(location.hostname) || location.hostname.includes(":");
  }

  async function create(name) {
    if (!window.PublicKeyCredential) throw new Error("WebAuthn unavailable");
    if (hostIsIp()) {
      const here = location.href.replace(location.hostname, "localhost");
      throw new Error(pageWords().js_passkey_needs_name || ("open " + here));
    }
    const credential = await navigator.credentials.create({
      publicKey: {
        rp: { id: location.hostname, name: "tuanchain" },
        user: { id: crypto.getRandomValues(new Uint8Array(16)), name: name || "tuanchain", displayName: name || "tuanchain" },
        challenge: crypto.getRandomValues(new Uint8Array(32)),
        pubKeyCredParams: [{ type: "public-key", alg: -7 }], // ES256 = P-256
        authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
        attestation: "none",
      },
    });
    // SubjectPublicKeyInfo of an uncompressed P-256 point ends with x ‖ y.
    const spki = new Uint8Array(credential.response.getPublicKey());
    const key = {
      id: b64url(new Uint8Array(credential.rawId)),
      qx: hex(spki.slice(-64, -32)),
      qy: hex(spki.slice(-32)),
    };
    localStorage.setItem(STORE_KEY, JSON.stringify(key));
    return signerOf(key);
  }

  // A WebAuthn assertion over ``challenge`` (the userOpHash), low s, ABI-encoded.
  async function assert(key, challenge) {
    const credential = await navigator.credentials.get({
      publicKey: {
        challenge,
        rpId: location.hostname,
        allowCredentials: [{ type: "public-key", id: unb64url(key.id) }],
        userVerification: "required",
      },
    });
    const response = credential.response;
    const clientText = new TextDecoder().decode(response.clientDataJSON);
    const { r, s: rawS } = parseDer(new Uint8Array(response.signature));
    const s = lowS(rawS);
    return encodeAssertion({
      r, s,
      challengeIndex: clientText.indexOf('"challenge":"'),
      typeIndex: clientText.indexOf('"type":"webauthn.get"'),
      authenticatorData: new Uint8Array(response.authenticatorData),
      clientDataJSON: ENC.encode(clientText),
    });
  }

  // key.account: the account this passkey was added to on another device (useAccount); every
  // call names it, as the service's ``account`` field asks, else the passkey's own account.
  function signerOf(key) {
    const named = key.account ? { account: key.account } : {};
    const query = "?qx=" + key.qx + "&qy=" + key.qy + (key.account ? "&account=" + key.account : "");
    const account = async () => {
      const info = await api("/v1/passkeys/account" + query);
      rememberAddress(key, info.address);
      return info;
    };
    let checked = false;
    const self = {
      kind: "passkey",
      label: pageWords().js_passkey || "Passkey",
      key,
      // Known from an earlier visit: shown at once, checked once in the background.
      address: async () => {
        const known = key.account || key.address;
        if (!known) return (await account()).address;
        if (!checked) { checked = true; account().catch(() => {}); }
        return known;
      },
      account,
      // The unsigned operation of a consumer action and its hash (the challenge to sign).
      prepare: (action, body) => api(
        "/v1/actions/" + encodeURIComponent(action) + "/prepare-userop",
        Object.assign({ qx: key.qx, qy: key.qy }, named, body),
      ),
      // Sign a prepared operation with the passkey, send it to the bundler, follow it until
      // mined. onStatus(step, info): "signing", "sent", then "mined" or "reverted".
      submit: async (prepared, onStatus) => {
        const say = onStatus || (() => {});
        say("signing", prepared);
        const assertion = await assert(key, unhex(prepared.userOpHash));
        const op = Object.assign({}, prepared.userOperation, {
          signature: hex(encodeAccountSignature(unhex(prepared.signer), assertion)),
        });
        const hash = await bundler("eth_sendUserOperation", [op, prepared.entryPoint]);
        say("sent", { userOpHash: hash });
        // Followed for so long, then "look later" (it may still be included: not to send again).
        const until = Date.now() + FOLLOW_MS;
        for (;;) {
          if (Date.now() > until) {
            throw Object.assign(new Error(pageWords().js_err_not_confirmed || "not confirmed yet"), { code: "not_confirmed" });
          }
          const receipt = await bundler("eth_getUserOperationReceipt", [hash]);
          if (receipt) { say(receipt.success ? "mined" : "reverted", receipt); return receipt; }
          const found = await bundler("eth_getUserOperationByHash", [hash]);
          if (found && found.status === "failed") {
            const error = new Error((found.error && found.error.message) || "failed");
            error.code = found.error && found.error.code;
            throw error;
          }
          await sleep(500);
        }
      },
      // The pages' EOA signers sign typed data; an account signs through ERC-1271 instead.
      // personal_sign through ERC-1271: the passkey signs the account's ERC-7739 PersonalSign
      // challenge (the service computes it); the signature is the account's own envelope.
      signMessage: async (text) => {
        const prepared = await api("/v1/passkeys/sign-message", Object.assign({ qx: key.qx, qy: key.qy, message: text }, named));
        const assertion = await assert(key, unhex(prepared.challenge));
        return hex(encodeAccountSignature(unhex(prepared.signer), assertion));
      },
      // EIP-712 through ERC-1271 (the pickup code's Handover): the passkey signs the account's
      // ERC-7739 TypedDataSign challenge; the signature is the account's envelope, then the
      // nesting the account rebuilds the app's digest from (the service's `suffix`).
      signTypedData: async (typedData) => {
        const prepared = await api("/v1/passkeys/sign-typed-data", Object.assign({ qx: key.qx, qy: key.qy, typed_data: typedData }, named));
        const assertion = await assert(key, unhex(prepared.challenge));
        return hex(encodeAccountSignature(unhex(prepared.signer), assertion)) + prepared.suffix.slice(2);
      },
    };
    // Prepare, then sign and send (the pages' step sheet calls the two apart, to show the
    // operation before the passkey is asked).
    self.perform = async (action, body, onStatus) => {
      (onStatus || (() => {}))("preparing");
      return self.submit(await self.prepare(action, body), onStatus);
    };
    return self;
  }

  // The account's address kept with the key once the service has said it: it never changes (the
  // factory's CREATE2 address, or the account named), so a later visit shows who is signed in,
  // and "my orders" opens, without waiting for the service and its chain node (a slow network,
  // a node down). Actions do not rely on it: the service derives the account from the key.
  function rememberAddress(key, address) {
    if (!address || key.address === address) return;
    key.address = address;
    const stored = remembered();
    if (stored && stored.qx === key.qx && stored.qy === key.qy && (stored.account || "") === (key.account || "")) {
      localStorage.setItem(STORE_KEY, JSON.stringify(Object.assign(stored, { address })));
    }
  }

  function signer() {
    const key = remembered();
    return key ? signerOf(key) : null;
  }

  function forget() { localStorage.removeItem(STORE_KEY); }

  // A second device: this passkey, once added to ``address`` by one of its passkeys
  // (add_passkey), acts for that account from now on. The service checks on chain that it is
  // one of the account's passkeys (403 not_a_passkey_of_account otherwise) before it is kept.
  async function useAccount(address) {
    const key = remembered();
    if (!key) throw new Error("no passkey on this device");
    const info = await api("/v1/passkeys/account?qx=" + key.qx + "&qy=" + key.qy + "&account=" + encodeURIComponent(address));
    localStorage.setItem(STORE_KEY, JSON.stringify(Object.assign({}, key, { account: info.address, address: info.address })));
    return signer();
  }

  // This passkey's public key as one code (qx ‖ qy, 0x hex): what another device adds.
  const keyCode = (key) => key.qx + key.qy.slice(2);

  window.TuanPasskey = {
    create, signer, forget, useAccount, keyCode,
    // the encoding, exposed for the differential test against chain.aa.webauthn
    encodeAssertion, encodeAccountSignature, parseDer, lowS, hex, unhex,
  };

  // ------------------------------------------------------------------ the /passkey page

  const root = document.getElementById("passkey");
  if (!root) return;
  const T = JSON.parse((document.getElementById("passkey-i18n") || {}).textContent || "{}");
  const t = (k, values) => {
    let text = T[k] || k;
    for (const [name, v] of Object.entries(values || {})) text = text.split("{" + name + "}").join(v);
    return text;
  };
  const field = (name) => root.querySelector('[data-field="' + name + '"]');
  const status = field("status");
  const money = (units) => (Number(units) / 1e6).toFixed(2);
  const say = (text, error) => { status.textContent = text; status.classList.toggle("error", !!error); };

  // Another device by QR code: two public values cross between the phones, each as a link to
  // this page whose fragment (#link= an account, #add= a passkey's key code) the browser never
  // sends to the service; nothing in either is secret. What proves possession is unchanged from
  // copying by hand: the account's passkey signs add_passkey (the step sheet shows it), and the
  // service checks on chain that the new passkey is the account's before the device uses it.
  const other = root.querySelector("details.other-device");
  const ACCOUNT_LINK = /^#link=(0x[0-9a-fA-F]{40})$/;
  const KEY_LINK = /^#add=(0x[0-9a-f]{128})$/;
  function pageLink(fragment) {
    const url = new URL("/passkey", location.origin);
    const lang = new URLSearchParams(location.search).get("lang");
    if (lang) url.searchParams.set("lang", lang);
    return url.href + fragment;
  }
  // The QR code of a link, drawn by the service (POST /v1/qr: the text in the body, no-store).
  async function drawQr(box, text) {
    if (box.dataset.text === text) return;
    const response = await fetch("/v1/qr", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
    });
    box.innerHTML = response.ok ? await response.text() : "";
    box.dataset.text = response.ok ? text : "";
  }
  async function drawPairing() {
    if (!other.open || !root.dataset.address) return;
    const current = signer();
    if (!current) return;
    await Promise.all([
      drawQr(field("account-qr"), pageLink("#link=" + root.dataset.address)),
      drawQr(field("key-qr"), pageLink("#add=" + keyCode(current.key))),
    ]);
  }
  other.addEventListener("toggle", () => guarded(drawPairing));
  // A scanned link fills in its form (the person still taps it) and opens the section.
  function readScanned() {
    if (location.hash === "#" + other.id) { // a link to the section itself (orders.html)
      other.open = true;
      other.dataset.scroll = "yes";
      if (root.dataset.address) scrollToScanned();
      return;
    }
    const account = ACCOUNT_LINK.exec(location.hash);
    const key = KEY_LINK.exec(location.hash);
    if (!account && !key) return;
    history.replaceState(null, "", location.pathname + location.search); // not again on reload
    other.open = true;
    const scanned = field("scanned");
    const form = root.querySelector(account ? "form.use-account" : "form.add-device");
    if (account) {
      form.account.value = account[1];
      scanned.textContent = t("scanned_account");
    } else {
      form.key.value = key[1];
      scanned.textContent = t("scanned_key", { tail: key[1].slice(-8) });
    }
    form.before(scanned); // said just above the form it filled in, which is scrolled to
    scanned.hidden = false;
    scanned.dataset.scroll = "yes";
    if (root.dataset.address) scrollToScanned();
  }
  function scrollToScanned() {
    const scanned = root.querySelector('[data-scroll="yes"]'); // the scanned line, or the section
    if (!scanned) return;
    delete scanned.dataset.scroll;
    scanned.scrollIntoView({ block: scanned === other ? "start" : "center" });
  }

  async function show(current) {
    root.querySelector('[data-when="signed-out"]').hidden = !!current;
    root.querySelector('[data-when="signed-in"]').hidden = !current;
    if (!current) { delete root.dataset.address; return; }
    const info = await current.account();
    field("address").textContent = info.address;
    field("balance").textContent = money(info.balance);
    field("key").textContent = keyCode(current.key);
    root.dataset.address = info.address;
    if (window.Tuan && window.Tuan.useSigner) window.Tuan.useSigner(current);
    await drawPairing();
    scrollToScanned(); // once the QR codes above it are drawn
  }

  async function guarded(fn) {
    try { await fn(); } catch (error) {
      say("✖ " + (window.Tuan ? window.Tuan.explain(error) : (error.message || error)), true);
    }
  }

  root.querySelector('[data-action="create"]').addEventListener("click", () => guarded(async () => {
    if (!window.PublicKeyCredential) { say(t("no_webauthn"), true); return; }
    say(t("creating"));
    await show(await create());
    say("");
  }));
  root.querySelector('[data-action="faucet"]').addEventListener("click", () => guarded(async () => {
    const current = signer();
    const granted = await api("/v1/faucet", { address: await current.address() });
    await show(current);
    say(t("faucet_done", { amount: money(granted.amount) }));
  }));
  // Another device: its key code pasted here is added to this account (a sponsored operation,
  // through the step sheet); that device then names this account below.
  root.querySelector("form.add-device").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    guarded(async () => {
      const code = form.key.value.trim().toLowerCase();
      if (!/^0x[0-9a-f]{128}$/.test(code)) { say(t("bad_key"), true); return; }
      await window.Tuan.run({
        action: "add_passkey",
        body: { new_qx: code.slice(0, 66), new_qy: "0x" + code.slice(66) },
        title: form.dataset.title,
        summary: form.dataset.summary,
      });
    });
  });
  root.querySelector("form.use-account").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    guarded(async () => {
      const current = await useAccount(form.account.value.trim());
      await show(current);
      say(t("linked", { address: root.dataset.address }));
    });
  });
  root.querySelector('[data-action="forget"]').addEventListener("click", () => { forget(); show(null); say(""); });
  // The join form is there for a share link's deal only (?deal=&leader=); else the shop's buttons.
  const joinForm = root.querySelector("form.passkey-join");
  if (joinForm) joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    guarded(async () => {
      const current = signer();
      const body = { deal_id: Number(form.deal.value), quantity: Number(form.quantity.value), leader: form.leader.value.trim() };
      const receipt = await current.perform("join", body, (step, info) => {
        if (step === "preparing") say(t("preparing"));
        if (step === "signing") say(t("signing", { what: t("join_what", { amount: money(info.details.amount), deal: body.deal_id }) }));
        if (step === "sent") say(t("sent"));
      });
      await show(current);
      say(receipt.success
        ? t("mined", { block: parseInt(receipt.receipt.blockNumber, 16) })
        : t("reverted", { reason: receipt.reason }), !receipt.success);
      root.dataset.joined = receipt.success ? "yes" : "no";
    });
  });
  readScanned();
  window.addEventListener("hashchange", readScanned); // a link to this very page, opened on it
  guarded(() => show(signer()));
})();
