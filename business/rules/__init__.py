"""Assignment rules: an event made outside calsync gets its client, project and activity from rules the
organisation defines (an attendee's email domain, words in the title, the calendar it is in...).

`engine` matches (no writes), `services` records matches and re-runs the rules over a date range through
events.services (the one write path), `selectors` reads for the pages, `views`/`tasks`/the `apply_rules`
command only call those.
"""
