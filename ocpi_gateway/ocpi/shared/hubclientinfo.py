"""ClientInfo (mod_hub_client_info) in any version: the internal ClientInfo with the version's
Role, which is all that differs between versions."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ocpi_gateway.hubclientinfo import models as internal

C = TypeVar("C", bound=internal.ClientInfo)


class ClientInfoMapping(Generic[C]):
    """The mapping of a version whose ClientInfo is ``typed`` (a subclass of the internal one
    that narrows ``role`` to the version's Role)."""

    def __init__(self, typed: type[C]) -> None:
        self._typed = typed

    def to_internal(self, raw: Any) -> internal.ClientInfo:
        return internal.ClientInfo.model_validate(self._typed.model_validate(raw).model_dump())

    def from_internal(self, info: internal.ClientInfo) -> C:
        return self._typed.model_validate(info.model_dump())
