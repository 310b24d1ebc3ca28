"""Signals accounts sends; other apps listen without accounts knowing them."""

from django.dispatch import Signal

# A person's time zone changed (after the save, in its transaction). Keyword argument: user_id. Floating times in
# their calendars happen on their clock, so what is derived from them (the reports' time index) is read again.
user_zone_changed = Signal()

# The organisation's time zone changed (after the save, in its transaction). Keyword argument: tenant_id. Its
# reports cut days there, so what is summed per day (the reports' day sums) is summed again.
tenant_zone_changed = Signal()
