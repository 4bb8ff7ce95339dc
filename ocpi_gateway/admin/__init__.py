"""The operators' side of the gateway: the admin API under ``/admin/api/``, its accounts and
audit log, and the CLI commands that share its service layer.

- ``operators.py`` — the operators file (accounts, roles, scrypt hashes);
- ``credentials.py`` — browser sessions and API tokens in the store;
- ``access.py`` — who is calling (cookie + CSRF, bearer, the legacy ``admin_token``), logins
  and their rate limit;
- ``audit.py`` — every action, with who did it;
- ``service/`` — what the API and the CLI do, one module per resource;
- ``api/`` — the HTTP side: the operation table, the generated OpenAPI document and its page,
  one module per resource;
- ``extension.py`` — plugs it all into the app.
"""
