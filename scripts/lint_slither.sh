#!/usr/bin/env bash
# Slither gate over tuanchain's deployed contracts.
#
# Fails (exit 1) on any High or Medium finding that is not triaged. A finding is triaged either by a detector
# listed in slither.config.json "detectors_to_exclude" or by an inline `// slither-disable-next-line <detector>`
# comment saying why; docs/slither.md explains every one. Low and informational findings are printed, not gated.
#
# slither-analyzer 0.11.6 pins web3<8, so it lives in its own venv (.venv-slither), created here if missing.
# It runs offline: crytic-compile compiles each target with tools/solc (solc-js behind a native-solc CLI);
# it also asks `forge config` for the project layout, so the npm forge binary is put on PATH.
#
# Usage: scripts/lint_slither.sh [extra slither args]   e.g. --exclude-informational, --json report.json
#        SLITHER_TARGETS="ProvenanceRegistry" scripts/lint_slither.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SLITHER_VERSION="0.11.6"
VENV="${TUANCHAIN_SLITHER_VENV:-$ROOT/.venv-slither}"
if ! "$VENV/bin/slither" --version 2>/dev/null | grep -qx "$SLITHER_VERSION"; then
    echo "lint_slither: installing slither-analyzer==$SLITHER_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    # Every package pinned: slither's own dependencies are not pinned by slither itself.
    "$VENV/bin/pip" install --quiet -r "$ROOT/requirements-slither.lock"
fi

export PATH="$ROOT/node_modules/@foundry-rs/forge-linux-amd64/bin:$PATH"

# The contracts that get deployed; libraries and interfaces they import are analysed with them.
read -r -a TARGETS <<< "${SLITHER_TARGETS:-ProvenanceRegistry TuanchainForwarder TestStablecoin GroupBuyEscrow accounts/PasskeyAccountFactory accounts/ConsumerPaymaster}"

# Two targets at a time (SLITHER_JOBS): each is one single-threaded solc-js compile and analysis, and
# the CI machine has two cores. Each target's output is kept apart and printed whole, in order.
JOBS="${SLITHER_JOBS:-2}"
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT

lint_one() {  # $1: index, $2: target name; writes $LOGS/$1.log and $LOGS/$1.rc
    local file="contracts/$2.sol"
    {
        echo "== slither $file"
        if "$VENV/bin/slither" "$file" --config-file slither.config.json --fail-medium "${@:3}"; then
            echo "== $file: no untriaged High/Medium finding"
            echo 0 > "$LOGS/$1.rc"
        else
            echo "== FAIL $file: untriaged High/Medium finding(s) above (or compilation failed)"
            echo 1 > "$LOGS/$1.rc"
        fi
    } > "$LOGS/$1.log" 2>&1
}

running=0
for i in "${!TARGETS[@]}"; do
    name="${TARGETS[$i]}"
    if [[ ! -f "contracts/$name.sol" ]]; then
        echo "lint_slither: contracts/$name.sol does not exist yet, skipped" >&2
        continue
    fi
    lint_one "$i" "$name" "$@" &
    running=$((running + 1))
    if (( running >= JOBS )); then
        wait -n || true  # a job records its own result in $LOGS
        running=$((running - 1))
    fi
done
wait

status=0
for i in "${!TARGETS[@]}"; do
    [[ -f "$LOGS/$i.log" ]] || continue
    cat "$LOGS/$i.log"
    if [[ "$(cat "$LOGS/$i.rc" 2>/dev/null)" != 0 ]]; then
        status=1
    fi
done
exit "$status"
