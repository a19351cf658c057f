"""``tuanchain supplier …``: a supplier's (or an ERP's) command line, a client of the service.

- :mod:`api.supplier.keystore` — encrypted JSON keystores (the only way a key reaches the CLI);
- :mod:`api.supplier.service` — the service's HTTP API: prepare → sign locally → relay (or send
  the same call directly), private uploads behind Sign-In with Ethereum;
- :mod:`api.supplier.inputs` — EPCIS events from files and builders, sensor CSVs;
- :mod:`api.supplier.masterdata` — product master data per GTIN and the lot master data naming it;
- :mod:`api.supplier.cli` — the verbs;
- :mod:`api.supplier.workspace` — what the supplier's page (``/supplier/{address}``) shows.

The page builds its documents with the same functions (``/v1/supplier/…``,
:mod:`api.routes.supplier_trail`), so a batch registered or an event anchored from a phone is the
one an ERP would have sent through the CLI.

Documents are always stored by the service (``prepare`` stores what a request anchors), so a
``--direct`` call anchors exactly what a relayed one would.
"""
