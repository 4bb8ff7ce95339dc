"""``ocpi-gateway demo``: the gateway on embedded defaults with simulated chargers and eMSP."""
