"""Validates GPT-Live events against the `openai` Python package's
`openai.types.live` models (generated from OpenAI's API spec), strictly: a
field the models do not declare fails, at any depth.

    python validate_live.py --client EVENTS.jsonl [--server FILE.replay ...]

`--client`: one client event per line (what switchboard sent), checked against
`ClientEvent`. `--server`: replay fixtures (tests/fixtures/live/*.replay); each
line that is a JSON object is one server frame, checked against `ServerEvent`
(`response.event` payloads are checked against `openai.types.responses`'s
stream events too). Prints one line per failure and a closing count; exits 1 on
any failure or when there was nothing to check.
"""

import argparse
import json
import sys

from pydantic import TypeAdapter

from openai.types.live.client_event import ClientEvent
from openai.types.live.server_event import ServerEvent
from openai.types.responses.response_stream_event import ResponseStreamEvent

from strict import check


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", action="append", default=[])
    parser.add_argument("--server", action="append", default=[])
    args = parser.parse_args()
    client = TypeAdapter(ClientEvent)
    server = TypeAdapter(ServerEvent)
    nested = TypeAdapter(ResponseStreamEvent)
    failures = []
    checked = 0
    for path in args.client:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    check(client, json.loads(line), f"{path}:{n}", failures)
                    checked += 1
    for path in args.server:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line.startswith("{"):
                    continue
                value = json.loads(line)
                check(server, value, f"{path}:{n}", failures)
                checked += 1
                if value.get("type") == "response.event":
                    check(nested, value["event"], f"{path}:{n} (nested)", failures)
    for failure in failures:
        print(failure)
    passed = checked - len(failures)
    print(f"{passed} passed, {len(failures)} failed")
    sys.exit(1 if failures or checked == 0 else 0)


if __name__ == "__main__":
    main()
