"""Validates what switchboard sent to OpenAI for a SIP call — the call-control
REST requests and the sideband client events — against the `openai` Python
package's types (generated from OpenAI's API spec), strictly: a field the
types do not declare fails, at any depth.

    python validate_sip.py --api live|realtime --requests REQUESTS.jsonl [--sideband EVENTS.jsonl ...]

`--requests` (repeatable): one request a line, exactly
`{"method": "POST", "path": "/v1/live/sessions/live_1/accept", "body": {…} or null}`.
The method must be POST; the path one of (nothing else, no query string):

    --api live:     /v1/live/sessions/{session_id}/accept|reject|refer|hangup
    --api realtime: /v1/realtime/calls/{call_id}/accept|reject|refer|hangup

accept, reject and refer bodies are checked against the package's params —
live: `openai.types.live.session_{accept,reject,refer}_params`
(SessionAcceptParams: `{"session": {"type": "live", "model": …, …}}`;
SessionRejectParams: `status_code` required; SessionReferParams: `target_uri`
required); realtime: `openai.types.realtime.call_{accept,reject,refer}_params`
(CallAcceptParams: the session itself, unwrapped, `type: "realtime"` required;
CallRejectParams: `status_code` optional; CallReferParams: `target_uri`
required). hangup takes no body: `null`.

`--sideband` (repeatable): one client event a line that switchboard sent on
the call's sideband WebSocket, checked against the params union the package's
connection `send` takes — live (`client.live.sideband.connect()`):
`openai.types.live.connect_client_event_param.ConnectClientEventParam` (no
`session.start`, no input audio; `delegation_id` required on the three
appends, null allowed); realtime (`client.realtime.connect(call_id=…)`):
`openai.types.realtime.realtime_client_event_param.RealtimeClientEventParam`
or `response_create_event_with_references_param.ResponseCreateEventWithReferencesParam`.
The params, not the event models (`ConnectClientEvent`, `RealtimeClientEvent`):
the models are written for reading and let required fields default.

Prints one line per failure and a closing `checked N, failed M`; exits 1 on
any failure or when there was nothing to check.
"""

import argparse
import json
import re
import sys

from typing import Union

from openai.types.live.connect_client_event_param import ConnectClientEventParam
from openai.types.live.session_accept_params import SessionAcceptParams
from openai.types.live.session_refer_params import SessionReferParams
from openai.types.live.session_reject_params import SessionRejectParams
from openai.types.realtime.call_accept_params import CallAcceptParams
from openai.types.realtime.call_refer_params import CallReferParams
from openai.types.realtime.call_reject_params import CallRejectParams
from openai.types.realtime.realtime_client_event_param import RealtimeClientEventParam
from openai.types.realtime.response_create_event_with_references_param import (
    ResponseCreateEventWithReferencesParam,
)

from strict import StrictParams, check_params

APIS = {
    "live": {
        "path": re.compile(r"/v1/live/sessions/(?P<id>[^/?#]+)/(?P<action>accept|reject|refer|hangup)"),
        "pattern": "/v1/live/sessions/{session_id}/accept|reject|refer|hangup",
        "bodies": {
            "accept": StrictParams(SessionAcceptParams),
            "reject": StrictParams(SessionRejectParams),
            "refer": StrictParams(SessionReferParams),
        },
        "sideband": StrictParams(ConnectClientEventParam, "ConnectClientEventParam"),
    },
    "realtime": {
        "path": re.compile(r"/v1/realtime/calls/(?P<id>[^/?#]+)/(?P<action>accept|reject|refer|hangup)"),
        "pattern": "/v1/realtime/calls/{call_id}/accept|reject|refer|hangup",
        "bodies": {
            "accept": StrictParams(CallAcceptParams),
            "reject": StrictParams(CallRejectParams),
            "refer": StrictParams(CallReferParams),
        },
        "sideband": StrictParams(
            Union[RealtimeClientEventParam, ResponseCreateEventWithReferencesParam], "RealtimeClientEventParam"
        ),
    },
}
REQUEST_KEYS = {"method", "path", "body"}


def _type_of(value):
    return value.get("type") if isinstance(value, dict) else type(value).__name__


def check_request(api, request, where, failures):
    if not isinstance(request, dict) or set(request) != REQUEST_KEYS:
        got = sorted(request) if isinstance(request, dict) else json.dumps(request)
        failures.append(f"{where}: a request line must have exactly the keys body, method, path; got {got}")
        return
    method, path, body = request["method"], request["path"], request["body"]
    if method != "POST":
        failures.append(f"{where}: {json.dumps(path)}: method must be POST, got {json.dumps(method)}")
        return
    match = api["path"].fullmatch(path) if isinstance(path, str) else None
    if not match:
        failures.append(f"{where}: unknown path {json.dumps(path)} (expected {api['pattern']})")
        return
    action = match["action"]
    if action == "hangup":
        if body is not None:
            failures.append(f"{where}: {path}: hangup takes no body, got {json.dumps(body)}")
        return
    check_params(api["bodies"][action], body, f"{where}: {path}", failures)


def lines(path, where):
    """(location, parsed value or the JSON error) for each non-blank line."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield f"{path}:{n}", json.loads(line), None
                except json.JSONDecodeError as e:
                    yield f"{path}:{n}", None, f"{where} line is not JSON: {e}"


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 1 too, not argparse's 2
        self.print_usage(sys.stderr)
        sys.exit(f"{self.prog}: error: {message}")


def main():
    parser = Parser(description="Validate switchboard's OpenAI SIP requests (see the module docstring).")
    parser.add_argument("--api", required=True, choices=sorted(APIS))
    parser.add_argument("--requests", action="append", required=True)
    parser.add_argument("--sideband", action="append", default=[])
    args = parser.parse_args()
    api = APIS[args.api]
    failures = []
    checked = 0
    for path in args.requests:
        for where, value, error in lines(path, "request"):
            checked += 1
            if error:
                failures.append(f"{where}: {error}")
            else:
                check_request(api, value, where, failures)
    for path in args.sideband:
        for where, value, error in lines(path, "sideband"):
            checked += 1
            if error:
                failures.append(f"{where}: {error}")
            else:
                check_params(api["sideband"], value, f"{where}: {_type_of(value)}", failures)
    for failure in failures:
        print(failure)
    print(f"checked {checked}, failed {len(failures)}")
    sys.exit(1 if failures or checked == 0 else 0)


if __name__ == "__main__":
    main()
