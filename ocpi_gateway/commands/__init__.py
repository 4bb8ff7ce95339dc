"""OCPI Commands module, receiver side: RESERVE_NOW, CANCEL_RESERVATION, START/STOP_SESSION,
UNLOCK_CONNECTOR, answered at once and completed asynchronously at the eMSP's response_url."""
