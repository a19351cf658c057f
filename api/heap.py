"""The service process's heap, frozen once it has started (``tuanchain serve`` / ``worker``).

Why (issue 15): the interpreter's full collections walk every tracked object, and a started
service holds a few hundred thousand of them for good — modules, the contracts' ABIs, web3's and
eth-abi's codecs, the app's routes and schemas. Measured with ``gc.callbacks`` during a 2,000-join
rush (scripts/bench_relay.py), one full collection of them took 0.46 s of the worker's 2.7 s of
CPU. Objects alive at start-up live as long as the process: :func:`gc.freeze` moves them out of
the collector's generations, so the collections that still run look only at what came after.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect what start-up left as garbage, then freeze everything still alive.

    Call it once per process, when the long-lived objects exist (after the app is built, the
    services connected); frozen objects are never collected, so not from code that starts and
    drops apps over and over (the tests)."""
    gc.collect()
    gc.freeze()
