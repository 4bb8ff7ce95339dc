"""Per collection, the fields its repository filters on; every backend indexes exactly these.

Keep this next to the queries: an index costs every write of its collection, so a field is
listed only where a repository's ``find``/``count`` filters on it on a path that runs often
(sweepers, clocks, authentication, lookups by token).
"""

INDEXES: dict[str, tuple[str, ...]] = {
    "partners": ("state",),
    "partner_tokens": ("partner_id",),
    "tokens": ("uid", "id_tag_16"),
    "command_tokens": ("uid", "id_tag_16"),
    "commands": ("state",),
    "sessions": ("id",),
    "reservations": ("live", "unsettled"),
    "partner_reservation_slots": ("partner_key",),
    "outbox": ("owner",),
}
