// Join a deal without gas: prepare the typed data on the server, sign each payload with the
// browser wallet (eth_signTypedData_v4), hand the signatures to the relayer, then poll its status.
// Without window.ethereum the form only explains what is needed; nothing is sent.
(function () {
  "use strict";
  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.message || response.statusText);
    return data;
  }

  async function waitMined(id, out) {
    for (let i = 0; i < 60; i += 1) {
      const status = await (await fetch("/v1/relay/" + id)).json();
      out.textContent = "relay " + id + ": " + status.status;
      if (status.status === "mined" || status.status === "failed") return status;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    return null;
  }

  async function join(form) {
    const out = form.querySelector("output");
    if (!window.ethereum) {
      out.textContent = form.querySelector(".hint").textContent;
      return;
    }
    try {
      const [from] = await window.ethereum.request({ method: "eth_requestAccounts" });
      const prepared = await postJson("/v1/actions/join/prepare", {
        from: from,
        deal_id: Number(form.dataset.deal),
        quantity: Number(form.quantity.value),
        leader: form.leader.value,
      });
      const signatures = {};
      for (const [name, typed] of Object.entries(prepared.payloads)) {
        signatures[name] = await window.ethereum.request({
          method: "eth_signTypedData_v4",
          params: [from, JSON.stringify(typed)],
        });
      }
      const accepted = await postJson("/v1/relay", {
        payloads: prepared.payloads, signatures: signatures, details: prepared.details,
      });
      await waitMined(accepted.id, out);
    } catch (error) {
      out.textContent = "✖ " + error.message;
    }
  }

  document.querySelectorAll("form.join").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      join(form);
    });
  });
})();
