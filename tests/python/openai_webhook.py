"""Signs test webhooks as OpenAI sends them to `POST /openai/webhook` (Standard
Webhooks), after checking each event against the `openai` Python package's
webhook models, strictly: a field the models do not declare fails, at any depth.

    python openai_webhook.py --secret whsec_BASE64   < EVENTS.jsonl

stdin: one JSON object a line (blank lines skipped), either an event —
`{"object":"event","id":"evt_…","type":"live.transport.incoming","created_at":…,"data":{…}}`
— or `{"event": {…}, "id": "msg_…", "timestamp": 1234567890}`, where `id` (the
webhook-id; default `msg_` and random characters) and `timestamp` (Unix
seconds; default now) are optional.

Each event must be a `live.transport.incoming`, `live.call.incoming` or
`realtime.call.incoming` event and match `openai.types.webhooks`'
LiveTransportIncomingWebhookEvent, LiveCallIncomingWebhookEvent or
RealtimeCallIncomingWebhookEvent (other types are refused). The body is the
event as compact JSON (`json.dumps(event, separators=(",", ":"))`), signed with
`standardwebhooks.Webhook(secret).sign(id, timestamp, body)`. Then the exact
headers and body are checked with the `openai` package's own
`OpenAI(webhook_secret=…).webhooks.unwrap`, whose result must carry the
event's type. `unwrap` refuses a timestamp more than 300 s from now; for such a
line (a deliberately old or future timestamp) the signature is checked with
the package's `webhooks.verify_signature` with the tolerance widened to cover
it, and the line says `"verified": false` (a receiver would refuse it now).

stdout: one JSON line per event, written as it is signed:
`{"webhook-id":"msg_…","webhook-timestamp":"1234567890","webhook-signature":"v1,…","body":"<exact body>","verified":true}`.
Any failure: a message on stderr naming the line, exit 1 (lines before it
have been printed).
"""

import argparse
import base64
import binascii
import json
import secrets
import string
import sys
import time
from datetime import datetime, timezone

import standardwebhooks
from pydantic import TypeAdapter

import openai
from openai.types.webhooks import (
    LiveCallIncomingWebhookEvent,
    LiveTransportIncomingWebhookEvent,
    RealtimeCallIncomingWebhookEvent,
)

from strict import check

# The tolerance of the package's `webhooks.unwrap` (`verify_signature`'s default).
TOLERANCE_SECS = 300

MODELS = {
    "live.transport.incoming": LiveTransportIncomingWebhookEvent,
    "live.call.incoming": LiveCallIncomingWebhookEvent,
    "realtime.call.incoming": RealtimeCallIncomingWebhookEvent,
}
ADAPTERS = {name: TypeAdapter(model) for name, model in MODELS.items()}
WRAPPER_KEYS = {"event", "id", "timestamp"}


class Refused(Exception):
    pass


def fresh_id():
    alphabet = string.ascii_letters + string.digits
    return "msg_" + "".join(secrets.choice(alphabet) for _ in range(27))


def parse_line(value, now):
    """(event, webhook id, timestamp) from one input line."""
    if not isinstance(value, dict):
        raise Refused(f"expected a JSON object, got {json.dumps(value)}")
    if "event" not in value:
        return value, fresh_id(), now
    unknown = sorted(set(value) - WRAPPER_KEYS)
    if unknown:
        raise Refused(f"unknown keys {unknown} beside `event` (allowed: event, id, timestamp)")
    msg_id = value.get("id", fresh_id())
    if not isinstance(msg_id, str) or not msg_id:
        raise Refused(f"`id` must be a non-empty string, got {json.dumps(msg_id)}")
    timestamp = value.get("timestamp", now)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise Refused(f"`timestamp` must be Unix seconds (a non-negative integer), got {json.dumps(timestamp)}")
    return value["event"], msg_id, timestamp


def validate(event):
    if not isinstance(event, dict):
        raise Refused(f"the event must be a JSON object, got {json.dumps(event)}")
    kind = event.get("type")
    if kind not in ADAPTERS:
        raise Refused(f"event type {json.dumps(kind)} is not one of {sorted(ADAPTERS)}")
    failures = []
    check(ADAPTERS[kind], event, MODELS[kind].__name__, failures, strict=True)
    if failures:
        raise Refused("; ".join(failures))
    return kind


def sign(webhook, client, event, kind, msg_id, timestamp):
    body = json.dumps(event, separators=(",", ":"))
    # `sign` replaces the datetime's zone with UTC: give it a UTC datetime.
    signature = webhook.sign(msg_id, datetime.fromtimestamp(timestamp, tz=timezone.utc), body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    skew = abs(int(time.time()) - timestamp)
    verified = skew <= TOLERANCE_SECS
    try:
        if verified:
            try:
                unwrapped = client.webhooks.unwrap(body, headers)
            except openai.InvalidWebhookSignatureError:
                if skew < TOLERANCE_SECS - 2:
                    raise
                verified = False  # the clock crossed the edge meanwhile
            else:
                if unwrapped.type != kind:
                    raise Refused(f"webhooks.unwrap gave type {unwrapped.type!r}, not {kind!r}")
        if not verified:
            client.webhooks.verify_signature(body, headers, tolerance=skew + 60)
    except openai.InvalidWebhookSignatureError as e:
        raise Refused(f"the openai package refused the signed webhook: {e}") from None
    return {**headers, "body": body, "verified": verified}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 1 too, not argparse's 2
        self.print_usage(sys.stderr)
        sys.exit(f"{self.prog}: error: {message}")


def main():
    parser = Parser(description="Sign test OpenAI webhooks (see the module docstring).")
    parser.add_argument("--secret", required=True, help="the webhook signing secret, whsec_<base64>")
    args = parser.parse_args()
    if not args.secret.startswith("whsec_"):
        sys.exit("openai_webhook.py: --secret must start with whsec_")
    try:
        key = base64.b64decode(args.secret[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        sys.exit("openai_webhook.py: --secret must be whsec_ followed by non-empty base64")
    webhook = standardwebhooks.Webhook(args.secret)
    client = openai.OpenAI(api_key="test", webhook_secret=args.secret)

    signed = 0
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise Refused(f"not JSON: {e}") from None
            event, msg_id, timestamp = parse_line(value, int(time.time()))
            kind = validate(event)
            out = sign(webhook, client, event, kind, msg_id, timestamp)
        except Refused as e:
            print(f"openai_webhook.py: stdin line {n}: {e}", file=sys.stderr)
            sys.exit(1)
        print(json.dumps(out), flush=True)
        signed += 1
    if signed == 0:
        sys.exit("openai_webhook.py: no events on stdin")


if __name__ == "__main__":
    main()
