"""The operator console at ``/console``: pages and scripts served from this package (no
third-party front-end code), data from the admin API, live changes pushed over Server-Sent
Events (``events.py``) from the feed (``feed.py``, ``feed_redis.py``)."""
