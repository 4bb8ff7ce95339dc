"""OCPI Tokens module, receiver side: the eMSPs' tokens the CPO caches for authorization."""
