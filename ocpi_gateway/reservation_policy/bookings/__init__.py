"""Future bookings (OCPI 2.3.0 Bookings) without HTTP: the records and their state machine
(``states``, ``records``, ``ledger``), a booking's promise and life once reserved
(``service``: binding, fulfilment, no-show, cancellation), the eMSP's requests against the
booking terms and the capacity timeline (``intake``) and the waiting list (``waitlist``)."""
