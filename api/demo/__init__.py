"""The demo community (`tuanchain seed`) and the one-command demo (`tuanchain run`).

``catalog`` holds the fixed demo data (accounts, products, places), ``seed`` writes it on chain
and in the document store idempotently, ``cli`` wires ``serve`` / ``seed`` / ``run``.
"""
