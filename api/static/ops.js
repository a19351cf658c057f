// Operators' pages: controls only for an address that holds the role they need, read from chain
// (GET /v1/roles/{address}); anyone else sees which role they lack. The chain enforces the roles
// anyway: this only spares people a request that would be refused.
//
// <element data-needs="escrow:PLATFORM_ROLE" hidden> is a gated control (hidden until the
// connected address is known to hold the role); <p id="role-why" data-needs="…"> … the note that
// says who may act, and why the connected address may not.
(function () {
  "use strict";
  const T = window.Tuan;
  const split = (need) => { const [contract, role] = need.split(":"); return { contract, role }; };
  const contractName = (contract) => T.t("js_contract_" + contract);
  // A role in words (平台运营权限, not PLATFORM_ROLE); the chain's name if it has none.
  const roleName = (role) => (T.t("js_role_" + role) !== "js_role_" + role ? T.t("js_role_" + role) : role);
  const shortAddress = (address) => address.slice(0, 6) + "…" + address.slice(-4);
  const words = (key, address, contract, role) =>
    T.t(key, { address: address ? shortAddress(address) : "", role: roleName(role), contract: contractName(contract) });

  function note(text, ok) {
    const box = document.getElementById("role-why");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("ok", !!ok);
    box.hidden = false;
  }

  async function check(signer) {
    const address = await signer.address();
    const why = document.getElementById("role-why");
    if (why) why.title = address; // the note names it short; the whole address one tap away
    let roles;
    try {
      roles = await T.api("/v1/roles/" + address);
    } catch (error) {
      note("✖ " + T.explain(error));
      return;
    }
    const lacking = new Set();
    document.querySelectorAll("[data-needs]:not(#role-why)").forEach((gate) => {
      const { contract, role } = split(gate.dataset.needs);
      const held = !!(roles[contract] && roles[contract][role]);
      gate.hidden = !held;
      if (!held) lacking.add(gate.dataset.needs);
    });
    const box = document.getElementById("role-why");
    const needs = box ? [box.dataset.needs, ...lacking].filter(Boolean) : [...lacking];
    const missing = [...new Set(needs)].filter((need) => {
      const { contract, role } = split(need);
      return !(roles[contract] && roles[contract][role]);
    });
    if (!missing.length) {
      const { contract, role } = split(needs[0] || "escrow:PLATFORM_ROLE");
      note("✔ " + words("js_holds_role", address, contract, role), true);
      return;
    }
    note(missing.map((need) => {
      const { contract, role } = split(need);
      return "⛔ " + words("js_lacks_role", address, contract, role);
    }).join(" "));
  }

  // A wallet that already lets this site see its account (eth_accounts: never a prompt).
  async function reconnect() {
    const wallets = await T.discover();
    for (const wallet of wallets) {
      const accounts = await wallet.provider.request({ method: "eth_accounts" }).catch(() => []);
      if (accounts && accounts.length) {
        T.useSigner(await T.injectedSigner(wallet));
        return;
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("role-why");
    if (box && box.dataset.needs) {
      const { contract, role } = split(box.dataset.needs);
      note(words("js_connect_for_role", "", contract, role));
    }
    T.onSigner(check);
    setTimeout(() => { reconnect().catch(() => {}); }, 0);
  });
})();
