"""The business owner's side of the calendar tests, played with the `caldav`
client library (python-caldav, the CalDAV client calendar tools are built on)
and `icalendar`, against a Radicale server the Rust test started.

    python caldav_owner.py make-calendar SERVER_URL USER PASSWORD NAME
    python caldav_owner.py add CALENDAR_URL USER PASSWORD   < event.ics
    python caldav_owner.py add-many CALENDAR_URL USER PASSWORD FIRST_DAY DAYS PER_DAY
    python caldav_owner.py list CALENDAR_URL USER PASSWORD
    python caldav_owner.py delete CALENDAR_URL USER PASSWORD UID
    python caldav_owner.py move CALENDAR_URL USER PASSWORD UID LOCAL_START
    python caldav_owner.py feed FILE.ics

`add-many` fills DAYS days from FIRST_DAY (YYYY-MM-DD) with PER_DAY
half-hour events each, from 06:00 UTC on. `make-calendar` prints the new calendar's URL. `list` prints one JSON array of
the calendar's events as stored (not expanded): uid, summary, description,
status, the DTSTART's local wall time (`YYYY-MM-DDTHH:MM`) and its TZID, and
the start in UTC. `move` moves
the event with UID to LOCAL_START (YYYY-MM-DDTHH:MM, in the event's own
zone), keeping its length, as an owner dragging it in a calendar app. `feed` parses a subscribable feed with `icalendar` and
prints its events the same way. Exits non-zero on any error.
"""

import json
import sys
from datetime import date, datetime, timezone

import caldav
import icalendar


def client(url, user, password):
    return caldav.DAVClient(url=url, username=user, password=password)


def describe(vevent):
    start = vevent.get("DTSTART")
    value = start.dt if start is not None else None
    out = {
        "uid": str(vevent.get("UID", "")),
        "summary": str(vevent.get("SUMMARY", "")),
        "description": str(vevent.get("DESCRIPTION", "")),
        "status": str(vevent.get("STATUS", "")),
        "tzid": start.params.get("TZID") if start is not None else None,
    }
    if isinstance(value, datetime):
        out["local"] = value.strftime("%Y-%m-%dT%H:%M")
        if value.tzinfo is not None:
            out["utc"] = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")
    elif isinstance(value, date):
        out["local"] = value.isoformat()
    end = vevent.get("DTEND")
    if end is not None and isinstance(end.dt, datetime) and end.dt.tzinfo is not None:
        out["end_utc"] = end.dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")
    if vevent.get("DURATION") is not None:
        out["duration_minutes"] = int(vevent.get("DURATION").dt.total_seconds() // 60)
    return out


def main(argv):
    command = argv[1]
    if command == "make-calendar":
        url, user, password, name = argv[2:6]
        principal = client(url, user, password).principal()
        calendar = principal.make_calendar(name=name, cal_id=name)
        print(str(calendar.url))
    elif command == "add":
        url, user, password = argv[2:5]
        calendar = client(url, user, password).calendar(url=url)
        calendar.save_event(sys.stdin.read())
        print("added")
    elif command == "add-many":
        url, user, password, first, days, per_day = argv[2:8]
        calendar = client(url, user, password).calendar(url=url)
        start = date.fromisoformat(first)
        for d in range(int(days)):
            day = date.fromordinal(start.toordinal() + d).strftime("%Y%m%d")
            for k in range(int(per_day)):
                hh, mm = 6 + k // 2, 30 * (k % 2)
                calendar.save_event(
                    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//owner//bulk//EN\r\n"
                    f"BEGIN:VEVENT\r\nUID:bulk-{day}-{k}\r\nDTSTAMP:20260101T000000Z\r\n"
                    f"DTSTART:{day}T{hh:02d}{mm:02d}00Z\r\nDURATION:PT30M\r\n"
                    "SUMMARY:Existing appointment\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
                )
        print("added")
    elif command == "list":
        url, user, password = argv[2:5]
        calendar = client(url, user, password).calendar(url=url)
        events = []
        for event in calendar.events():
            for component in icalendar.Calendar.from_ical(event.data).walk("VEVENT"):
                events.append(describe(component))
        print(json.dumps(events))
    elif command == "delete":
        url, user, password, uid = argv[2:6]
        calendar = client(url, user, password).calendar(url=url)
        calendar.event_by_uid(uid).delete()
        print("deleted")
    elif command == "move":
        url, user, password, uid, local_start = argv[2:7]
        calendar = client(url, user, password).calendar(url=url)
        event = calendar.event_by_uid(uid)
        parsed = icalendar.Calendar.from_ical(event.data)
        for vevent in parsed.walk("VEVENT"):
            start = vevent.get("DTSTART").dt
            moved = datetime.fromisoformat(local_start).replace(tzinfo=start.tzinfo)
            end = vevent.get("DTEND")
            vevent.pop("DTSTART")
            vevent.add("DTSTART", moved)
            if end is not None:
                vevent.pop("DTEND")
                vevent.add("DTEND", moved + (end.dt - start))
        event.data = parsed.to_ical().decode()
        event.save()
        print("moved")
    elif command == "feed":
        with open(argv[2], "rb") as f:
            parsed = icalendar.Calendar.from_ical(f.read())
        print(json.dumps([describe(e) for e in parsed.walk("VEVENT")]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv)
