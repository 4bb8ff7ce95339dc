"""OCPI 2.2.1 transport: envelope, status codes, errors, authentication and routing headers."""
