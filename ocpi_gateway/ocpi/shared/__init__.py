"""What every OCPI version's package shares: the typed objects and mapping steps that are the
same in all of them. A version folder (``ocpi/v*/``) holds only what differs in its version and
builds on these; a version that differs from them later overrides that part in its folder."""
