"""The walkthrough ``fingress demo`` prints: the public API calls a mobile app makes, as copy-paste curl
commands. The calls are data (:func:`walkthrough_steps`), so the test that runs the walkthrough against a
started demo sends exactly the requests printed here."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

# The agent the walkthrough uses: a desk-phone agent whose wrap-up is required (so every step shows).
WALKTHROUGH_AGENT = "1002"
WRAP_UP_REASON = "Sale"
# Reason code ids of the sample cluster (config/emulator.toml): NOT_READY "Break", LOGOUT "End of shift".
NOT_READY_REASON_CODE_ID = "1"
LOGOUT_REASON_CODE_ID = "11"
CALLER = "5550100"


@dataclass(frozen=True)
class ApiCall:
    """One request to the edge's public API (``path`` may contain ``$DIALOG``)."""

    title: str
    method: str
    path: str
    body: dict[str, Any] | None = None


def walkthrough_steps(agent: dict[str, Any]) -> dict[str, ApiCall]:
    """The public API calls of the walkthrough for ``agent`` (an entry of ``demo.json``'s ``agents``)."""
    actions = "/api/v1/dialogs/$DIALOG/actions"
    return {
        "sign_in": ApiCall(
            "Sign in to Finesse on an extension",
            "POST",
            "/api/v1/agent/session",
            {"extension": agent["extension"], "finesse_password": agent["password"]},
        ),
        "ready": ApiCall("Go READY", "PUT", "/api/v1/agent/state", {"state": "READY"}),
        "answer": ApiCall("Answer the call", "POST", actions, {"action": "ANSWER"}),
        "drop": ApiCall("Hang up (the call goes to wrap-up)", "POST", actions, {"action": "DROP"}),
        "wrap_up": ApiCall(
            "Wrap up with a reason",
            "POST",
            actions,
            {"action": "UPDATE_CALL_DATA", "wrap_up_reason": WRAP_UP_REASON},
        ),
        "not_ready": ApiCall(
            "Go NOT_READY (Finesse signs agents out only from NOT_READY)",
            "PUT",
            "/api/v1/agent/state",
            {"state": "NOT_READY", "reason_code_id": NOT_READY_REASON_CODE_ID},
        ),
        "sign_out": ApiCall(
            "Sign out", "DELETE", "/api/v1/agent/session", {"reason_code_id": LOGOUT_REASON_CODE_ID}
        ),
    }


def ring_body(agent_id: str) -> dict[str, str]:
    """The emulator control API body that offers the agent a call."""
    return {"agent_id": agent_id, "from": CALLER}


def _curl(call: ApiCall) -> str:
    parts = [f'curl -s --cacert "$CA" -X {call.method} -H "Authorization: Bearer $TOKEN"']
    if call.body is not None:
        parts.append(f"-H 'content-type: application/json' -d {shlex.quote(json.dumps(call.body))}")
    parts.append(f'"$EDGE{call.path}"')
    return " ".join(parts)


_JSON_FIELD = "python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])'"


def render_walkthrough(
    manifest: dict[str, Any], *, python: str = "python3", data_dir: str = ".fingress"
) -> str:
    """The text printed after start: where things are and the copy-paste commands."""
    agent = next(entry for entry in manifest["agents"] if entry["id"] == WALKTHROUGH_AGENT)
    steps = walkthrough_steps(agent)
    public = manifest["edge"]["public"]
    events_url = public.replace("https://", "wss://") + "/api/v1/events"
    emulator_a = manifest["emulator"]["A"]["rest"]
    ring = shlex.quote(json.dumps(ring_body(agent["id"])))
    lines = [
        "fingress demo is up.",
        "",
        f"  edge public API   {public}/api/v1/   (OpenAPI: {public}/api/v1/openapi.json)",
        f"  edge admin        {manifest['edge']['admin']}/readyz  /metrics",
        f"  Finesse emulator  side A {emulator_a}  side B {manifest['emulator']['B']['rest']}"
        f"  (control API: {emulator_a}/emulator/agents)",
        f"  identity provider {manifest['issuer']}  (token endpoint {manifest['token_endpoint']})",
        f"  agents            {', '.join(a['id'] for a in manifest['agents'])}  (passwords and extensions:"
        f" {data_dir}/demo.json)",
        "",
        "Try it in a second terminal (bash):",
        "",
        f"  export CA={shlex.quote(manifest['ca_file'])} EDGE={public} EMU={emulator_a}",
        "",
        f"  # 1. Get a token for agent {agent['id']} from the identity provider (or: TOKEN=$(fingress token"
        f" --data-dir {data_dir} --agent {agent['id']}))",
        f'  TOKEN=$(curl -s --cacert "$CA" -d grant_type=password -d username={agent["id"]}'
        f" -d password={shlex.quote(agent['password'])} {manifest['token_endpoint']}"
        f" | {_JSON_FIELD} access_token)",
        "",
        f"  # 2. {steps['sign_in'].title}",
        f"  {_curl(steps['sign_in'])}",
        "",
        f"  # 3. {steps['ready'].title}",
        f"  {_curl(steps['ready'])}",
        "",
        "  # 4. Open the event stream in a third terminal, with a one-time ticket (or a bearer header)",
        "  #    (export CA, EDGE and TOKEN there too; Python's TLS trusts $SSL_CERT_FILE)",
        '  TICKET=$(curl -s --cacert "$CA" -X POST -H "Authorization: Bearer $TOKEN"'
        ' "$EDGE/api/v1/events/ticket"'
        f" | {_JSON_FIELD} ticket)",
        f'  SSL_CERT_FILE="$CA" {python} -m websockets "{events_url}?ticket=$TICKET"',
        "",
        "  # 5. Ring the agent through the emulator's control API (Finesse's side of the world)",
        "  DIALOG=$(curl -s --cacert \"$CA\" -H 'content-type: application/json'"
        f' -d {ring} "$EMU/emulator/calls"'
        f" | {_JSON_FIELD} dialog_id)",
        "",
        f"  # 6. {steps['answer'].title}",
        f"  {_curl(steps['answer'])}",
        "",
        f"  # 7. {steps['drop'].title}, then: {steps['wrap_up'].title}",
        f"  {_curl(steps['drop'])}",
        f"  {_curl(steps['wrap_up'])}",
        "",
        f"  # 8. {steps['not_ready'].title}, then: {steps['sign_out'].title}",
        f"  {_curl(steps['not_ready'])}",
        f"  {_curl(steps['sign_out'])}",
        "",
        "Close the event stream and reopen it within the grace (--disconnect-grace-s) with a new ticket and",
        "&since=<last seq>: nothing is lost, nothing repeats. Ctrl-C stops everything.",
    ]
    return "\n".join(lines)
