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

from pydantic import BaseModel, TypeAdapter

from openai.types.live.client_event import ClientEvent
from openai.types.live.server_event import ServerEvent
from openai.types.responses.response_stream_event import ResponseStreamEvent


def extras(model, path="$"):
    """Every field a model instance received that its class does not declare."""
    found = []
    if isinstance(model, BaseModel):
        for name in (model.model_extra or {}):
            found.append(f"{path}.{name}")
        for name in type(model).model_fields:
            found.extend(extras(getattr(model, name), f"{path}.{name}"))
    elif isinstance(model, (list, tuple)):
        for i, item in enumerate(model):
            found.extend(extras(item, f"{path}[{i}]"))
    elif isinstance(model, dict):
        for key, item in model.items():
            found.extend(extras(item, f"{path}.{key}"))
    return found


def check(adapter, value, where, failures):
    try:
        model = adapter.validate_python(value)
    except Exception as e:  # pydantic.ValidationError, with the field path
        failures.append(f"{where}: {value.get('type')}: {str(e).splitlines()[0:3]}")
        return None
    undeclared = extras(model)
    if undeclared:
        failures.append(f"{where}: {value.get('type')}: undeclared fields {undeclared}")
    return model


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
