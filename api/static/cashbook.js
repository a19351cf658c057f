// The leader's cash book (现金代下单): whom each cash order stands for. On chain a cash order
// carries only keccak256(salt ‖ the neighbour's name or phone), the salt 16 random bytes made
// here; the name, the phone and the salt never leave this phone: they are kept in this browser's
// localStorage ("tuan.cashbook.<leader>"), which the page can export to a JSON file and import
// back (a new phone, a cleared browser). Without them the leader still sees each order's
// reference, units and the cash owed back, but not whose it is.
(function () {
  "use strict";
  const key = (leader) => "tuan.cashbook." + String(leader).toLowerCase();
  const hex = (bytes) => "0x" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

  function load(leader) {
    try { return JSON.parse(localStorage.getItem(key(leader)) || "{}"); } catch (error) { return {}; }
  }
  function save(leader, book) { localStorage.setItem(key(leader), JSON.stringify(book)); }

  // keccak256(salt ‖ UTF-8 of the trimmed name or phone), as the service's beneficiary_ref().
  function reference(saltBytes, who) {
    const text = new TextEncoder().encode(String(who).trim());
    const joined = new Uint8Array(saltBytes.length + text.length);
    joined.set(saltBytes, 0);
    joined.set(text, saltBytes.length);
    return "0x" + window.keccak256(joined);
  }

  // A new reference for a neighbour (not kept until booked(): a cancelled signature keeps nothing).
  function newReference(who) {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    return { who: String(who).trim(), salt: hex(salt), ref: reference(salt, who) };
  }

  function booked(leader, entry, dealId, quantity) {
    const book = load(leader);
    const known = book[entry.ref] || { who: entry.who, salt: entry.salt, deals: {} };
    known.deals[dealId] = (known.deals[dealId] || 0) + quantity;
    book[entry.ref] = known;
    save(leader, book);
  }

  function exportBook(leader) {
    const blob = new Blob([JSON.stringify({ leader, cashbook: load(leader) }, null, 1)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "tuanchain-cashbook-" + String(leader).slice(0, 10) + ".json";
    link.click();
  }

  async function importBook(leader, file) {
    const data = JSON.parse(await file.text());
    const book = Object.assign(load(leader), data.cashbook || {});
    save(leader, book);
    return Object.keys(book).length;
  }

  window.TuanCash = { load, newReference, booked, exportBook, importBook, reference };
})();
