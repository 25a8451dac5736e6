#!/usr/bin/env bash
# Run the scim2-tester conformance suite against a freshly started scimgate.
#
# Usage: scripts/conformance.sh [PYTHON] [RUNNER_ARGS...]
#   PYTHON       interpreter of a venv where scimgate and the test extras are
#                installed (default: $PYTHON, else .venv/bin/python of the repo)
#   RUNNER_ARGS  passed to scripts/scim2_tester_run.py (e.g. --trace, --json F)
#
# Creates a temp SQLite db, migrates it, creates an entitled account "conf",
# activates provisioning for it, serves scimgate on a free loopback port, runs
# the suite against the tenant URL with the tenant token, stops the server and
# exits with the runner's status (2 if the setup itself failed).
# CONFORMANCE_KEEP=1 keeps the temp dir (db, server.log) for inspection.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${1:-${PYTHON:-$HERE/../.venv/bin/python}}
[ $# -gt 0 ] && shift

# Make the interpreter path absolute without resolving the venv symlink.
if [[ "$PY" == */* ]]; then
    PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
else
    PY=$(command -v "$PY") || { echo "conformance: no interpreter $PY" >&2; exit 2; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/scimgate-conformance.XXXXXX")
SERVER_PID=""
[ "${CONFORMANCE_KEEP:-0}" = 1 ] && echo "conformance: working in $WORK (kept)" >&2

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    [ "${CONFORMANCE_KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail_setup() {
    echo "conformance: setup failed: $*" >&2
    if [ -s "$WORK/server.log" ]; then
        echo "conformance: last lines of server.log:" >&2
        tail -n 40 "$WORK/server.log" >&2
    fi
    exit 2
}

# Run everything from the temp dir so no stray .env or db in the repo is used.
cd "$WORK" || fail_setup "cannot enter $WORK"

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()') \
    || fail_setup "cannot pick a free port"

export SCIMGATE_DATABASE_URL="sqlite:///$WORK/db.sqlite"
export SCIMGATE_PUBLIC_URL="http://127.0.0.1:$PORT"

"$PY" -m scimgate migrate >"$WORK/migrate.log" 2>&1 \
    || { cat "$WORK/migrate.log" >&2; fail_setup "scimgate migrate"; }
"$PY" -m scimgate account create conf --entitled >"$WORK/account.log" 2>&1 \
    || { cat "$WORK/account.log" >&2; fail_setup "scimgate account create conf --entitled"; }
ACTIVATION=$("$PY" -m scimgate provisioning activate conf --json 2>"$WORK/activate.err") \
    || { cat "$WORK/activate.err" >&2; fail_setup "scimgate provisioning activate conf --json"; }

read_field() {
    printf '%s' "$ACTIVATION" | "$PY" -c '
import json, sys
text = sys.stdin.read()
# tolerate log lines before the JSON object
obj = json.loads(text[text.index("{"):text.rindex("}") + 1])
print(obj[sys.argv[1]])' "$1"
}
TENANT_URL=$(read_field tenant_url) || fail_setup "no tenant_url in activation output: $ACTIVATION"
TOKEN=$(read_field token) || fail_setup "no token in activation output"

"$PY" -m scimgate serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# Wait (up to 30 s) until the server answers an authenticated discovery request.
"$PY" - "$TENANT_URL" "$TOKEN" "$SERVER_PID" <<'EOF' || fail_setup "server did not answer on $TENANT_URL"
import os, sys, time, urllib.error, urllib.request
url, token, pid = sys.argv[1].rstrip("/") + "/ServiceProviderConfig", sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 30
last = None
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("server process exited")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            if resp.status == 200:
                sys.exit(0)
            last = resp.status
    except urllib.error.HTTPError as exc:
        last = exc.code
    except OSError as exc:
        last = exc
    time.sleep(0.2)
sys.exit(f"last answer: {last}")
EOF

"$PY" "$HERE/scim2_tester_run.py" --url "$TENANT_URL" --token "$TOKEN" "$@"
exit $?
