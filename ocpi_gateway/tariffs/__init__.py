"""Tariffs: the internal model (``models.py``), the pricing engine (``pricing.py``)."""
