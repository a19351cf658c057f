// Notices by SMS / WeChat: the page's owner signs in (Sign-In with Ethereum through wallet.js),
// then gives consent with a phone number or openid (PUT /v1/contact), sees what is kept, or
// withdraws (DELETE: the contact is deleted). The service checks that the session is the owner's.
(function () {
  "use strict";
  const T = window.Tuan;
  const call = (method, body) => T.sessionCall(method, "/v1/contact", body);
  async function mine(box) {
    const address = await T.signIn();
    if (address.toLowerCase() !== box.dataset.owner.toLowerCase()) throw new Error(T.t("js_contact_not_yours"));
  }
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("contact");
    if (!box) return;
    const form = box.querySelector("form");
    const out = form.querySelector("output");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await mine(box);
        const kept = await call("PUT", {
          phone: form.phone.value || null, wechat_openid: form.wechat_openid.value || null, consent: true,
        });
        out.textContent = "✔ " + T.t("js_contact_kept", { contact: kept.phone || kept.wechat_openid });
        out.className = "ok";
      } catch (error) { out.textContent = "✖ " + T.explain(error); out.className = "error"; }
    });
    form.querySelector("[data-withdraw]").addEventListener("click", async () => {
      try {
        await mine(box);
        await call("DELETE");
        form.reset();
        out.textContent = "✔ " + T.t("js_contact_withdrawn");
        out.className = "ok";
      } catch (error) { out.textContent = "✖ " + T.explain(error); out.className = "error"; }
    });
  });
})();
