"""CDRs SENDER: one CDR per billed session, stored once, POSTed to the eMSP, listed by GET."""
