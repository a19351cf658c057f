// /ops/webhooks: an operator signs in (Sign-In with Ethereum through wallet.js), registers a
// gateway (its whsec_ secret is shown once), sends dead letters again, or stops an endpoint.
// The API checks the operator's PLATFORM_ROLE on chain at every call.
(function () {
  "use strict";
  const T = window.Tuan;
  const say = (node, text) => { if (node) node.textContent = text; };
  const call = T.sessionCall;
  // A refusal's reason in words (details.reason of webhook_url_refused: {key, params, why?}),
  // the same keys the page's server side uses (api/webhooks/words.py).
  function reasonWords(reason) {
    const values = Object.assign({}, reason.params || {});
    if (reason.why) values.why = reasonWords(reason.why);
    const key = "js_refused_" + reason.key;
    const text = T.t(key, values);
    return text === key ? null : text;
  }
  function refusal(error) {
    const why = error.details && error.details.reason && reasonWords(error.details.reason);
    return why ? T.t("js_webhook_url_refused_why", { why }) : T.explain(error);
  }
  document.addEventListener("DOMContentLoaded", () => {
    const signIn = document.querySelector("[data-sign-in]");
    if (signIn) signIn.addEventListener("click", async () => {
      try { await T.signIn(); location.reload(); } catch (error) { say(signIn.nextElementSibling, "✖ " + T.explain(error)); }
    });
    const add = document.getElementById("webhook-add");
    if (add) add.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = add.querySelector("output");
      try {
        const made = await call("POST", "/v1/ops/webhooks", { url: add.url.value, description: add.description.value });
        out.textContent = T.t("js_webhook_secret") + " " + made.secret;
      } catch (error) { out.textContent = "✖ " + refusal(error); }
    });
    document.querySelectorAll("[data-retry]").forEach((button) => button.addEventListener("click", async () => {
      const body = button.dataset.delivery ? { delivery_id: Number(button.dataset.delivery) } : {};
      try { await call("POST", "/v1/ops/webhooks/" + button.dataset.retry + "/retry", body); location.reload(); }
      catch (error) { say(button.closest("article").querySelector("output"), "✖ " + T.explain(error)); }
    }));
    document.querySelectorAll("[data-disable]").forEach((button) => button.addEventListener("click", async () => {
      try { await call("DELETE", "/v1/ops/webhooks/" + button.dataset.disable); location.reload(); }
      catch (error) { say(button.closest("article").querySelector("output"), "✖ " + T.explain(error)); }
    }));
  });
})();
