"""Wiring of ``reservation_policy`` into the gateway: the policy engine over live availability,
the reservation service, its expiry clock, and the adapter from OCPI locations to candidates."""
