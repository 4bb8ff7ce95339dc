"""Consequences for drivers who do not show up: every unused reservation and booking recorded
against its token and its eMSP (``records.py``), bans of tokens (``bans.py``), the policy's
enforcement terms (``terms.py``), the one admission rule RESERVE_NOW and the bookings
admission both consult (``rule.py``, ``service.Enforcement.refusal``), and the service the CLI
and the admin API use to list, lift and set bans (``service.py``)."""
