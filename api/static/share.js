// A leader shares a deal from the phone: the phone's share sheet (Web Share API: WeChat, SMS, …)
// where there is one, else the link copied to paste into the group chat. The link and QR code
// stay on the page for anyone whose browser does neither.
(function () {
  "use strict";
  const T = window.Tuan;

  // Copy without the async clipboard (refused on plain http:// other than localhost).
  function copyBySelection(text) {
    const area = Object.assign(document.createElement("textarea"), { value: text, readOnly: true });
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }

  async function share(button) {
    const out = button.parentElement.querySelector("output");
    const url = button.dataset.share;
    const title = button.dataset.title;
    if (navigator.share) {
      try {
        await navigator.share({ title, text: title, url });
        return;
      } catch (error) {
        if (error && error.name === "AbortError") return; // the person closed the share sheet
      }
    }
    let copied = false;
    try {
      await navigator.clipboard.writeText(url);
      copied = true;
    } catch (error) {
      copied = copyBySelection(url);
    }
    out.textContent = copied ? "✔ " + T.t("js_link_copied") : T.t("js_link_copy_failed");
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("button[data-share]").forEach((button) => {
      button.hidden = false; // without this script the link and QR code are the way
      button.addEventListener("click", () => share(button));
    });
  });
})();
