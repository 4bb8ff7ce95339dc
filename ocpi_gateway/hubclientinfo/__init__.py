"""HubClientInfo, CPO side: which parties a hub reaches, and whether they are connected."""
