"""Per collection, the indexes its repositories' queries need; every backend builds exactly
these.

Each index is a tuple of fields: the equality filters of a query first, then the field it
orders by. A query is answered from an index whose leading fields are all in its filter (and
whose next field, if the query orders, is the order field), so ``count_live(partner)`` reads
one partner's entries and the expiry clock the earliest expiries, not every live
reservation. Keep this next to the queries: an index costs every write of its collection, so
one is listed only for a path that runs often (sweepers, clocks, authentication, lookups by
token, every RESERVE_NOW).
"""

Index = tuple[str, ...]

INDEXES: dict[str, tuple[Index, ...]] = {
    "partners": (("state",),),
    "partner_tokens": (("partner_id",),),
    "tokens": (("uid",), ("id_tag_16",)),
    "command_tokens": (("uid",), ("id_tag_16",)),
    # ("created_at",): the admin API's command list, newest first.
    "commands": (("state",), ("created_at",)),
    # sessions/repository.py: by_transaction (every meter value), by_hold (reservation
    # transitions), open_at(charger) (transaction starts, UNLOCK_CONNECTOR's permission),
    # open_with_status (the sweeper), running() (the sessions the bookings' planner adopts
    # at a start and a charger's connection, and checks when it extends them), page_of
    # ordered by last_updated (GET {sessions}), unbilled (the CDRs' sweep).
    # The admin API's list (admin/service/sessions.py): latest change first, read from
    # ("last_updated_ts",) or, for one eMSP, from its index; other filters are checked on
    # the rows these give.
    "sessions": (("transaction_key",), ("hold_key", "last_updated_ts"),
                 ("open", "charge_point_id"), ("open", "status"),
                 ("emsp_key", "last_updated_ts"), ("unbilled", "last_updated_ts"),
                 ("last_updated_ts",)),
    # cdrs/repository.py: page_of ordered by last_updated (GET {cdrs}); a charger's latest
    # reservation CDRs (a late fault report credits them).
    # ("last_updated_ts",), ("token.uid", ...): the admin API's list, newest first, and a
    # driver's CDRs for the help desk (admin/service/cdrs.py).
    "cdrs": (("emsp_key", "last_updated_ts"), ("charge_point_id", "kind", "last_updated_ts"),
             ("last_updated_ts",), ("token.uid", "last_updated_ts")),
    "partner_role_claims": (("partner_id",),),
    # records.py: count_live(partner), live(location_id=...), live(charge_point_id=...),
    # due() ordered by expiry_ts; the recovery sweeper's unsettled records.
    "reservations": (("live", "partner_key"), ("live", "location_id"),
                     ("live", "charge_point_id"), ("live", "expiry_ts"), ("unsettled",),
                     # The admin API's list (admin/service/reservations.py): newest first,
                     # by one filter (the others checked on the rows that index gives).
                     ("created_ts",), ("state", "created_ts"), ("location_id", "created_ts"),
                     ("partner_key", "created_ts"), ("token_uid", "created_ts"),
                     # ... the live ones (state=live), and by expiry (sort=expiry).
                     ("live", "created_ts"), ("expiry_ts",)),
    "partner_reservation_slots": (("partner_key",),),
    # enforcement/records.py: of_token() at every no-show, ordered by when it was recorded;
    # DailyCounts.window(partner) at every RESERVE_NOW where max_no_show_rate applies.
    # The admin API's list, newest first, and of one eMSP (admin/service/no_shows.py).
    "no_shows": (("token_key", "recorded_ts"), ("recorded_ts",),
                 ("partner_key", "recorded_ts")),
    "no_show_stats": (("partner_key",),),
    # ("dead", "seq"): the admin API's dead letters (and pending ones), newest first.
    "outbox": (("owner",), ("dead", "seq")),
    # reservation_policy/bookings/ledger.py: of_partner() by updated_ts (GET {bookings}),
    # live(location_id=...), the binding and no-show scans, the waiting lists, near() (every
    # transaction started at a booking site).
    "bookings": (("partner_key", "updated_ts"), ("live", "location_id"),
                 ("location_id", "start_ts"),
                 ("awaiting_bind", "bind_ts"), ("live", "state", "noshow_ts"),
                 ("waiting", "location_id", "created_ts"), ("waiting", "created_ts"),
                 ("open_request", "updated_ts"),
                 # The admin API's list: newest first, or by start (admin/service/bookings.py).
                 ("created_ts",), ("start_ts",)),
}


def indexed_fields(collection: str) -> frozenset[str]:
    """Every field some index of the collection holds."""
    return frozenset(field for index in INDEXES.get(collection, ()) for field in index)


def index_name(collection: str, index: Index) -> str:
    return f"idx_{collection}_{'_'.join(field.replace('.', '__') for field in index)}"
