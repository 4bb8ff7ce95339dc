"""Fields the repositories filter on; every backend indexes them."""

INDEXED_FIELDS = ("state", "partner_id", "partner_key", "uid", "id_tag_16", "dead",
                  "location_id", "id")
