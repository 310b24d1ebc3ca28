"""Signals events sends; other apps listen without events knowing them."""

from django.dispatch import Signal

# After a write to a calendar's items commits. Keyword argument: calendar_id.
calendar_changed = Signal()

# Inside the transaction that wrote them, once their rows (and their overrides' rows) are saved: master rows
# created or replaced. Keyword arguments: calendar_id, master_ids. Listeners keep what they derive from events
# (the reports' time index) in step, in the same transaction. Deletions cascade from the rows themselves.
items_written = Signal()

# A calendar was given to another person (inside the transaction). Keyword argument: calendar_id. Whose time its
# events are, whose clock their floating times are on and whose answers count all follow the owner.
calendar_owner_changed = Signal()
