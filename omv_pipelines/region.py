"""Facts about the region the programme serves, used by every layer."""

TIMEZONE = (
    "Europe/Brussels"  # local time of the communes: naive source datetimes, schedules, publication dates
)
