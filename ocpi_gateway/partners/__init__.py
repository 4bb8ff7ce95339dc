"""Partners (eMSPs, hubs): who they are, how they authenticate, how we reach them."""
