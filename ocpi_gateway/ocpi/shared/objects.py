"""The base of every typed OCPI object, and the number form of amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer


class OcpiObject(BaseModel):
    # Built from the internal model, which holds more than some versions can, and read from
    # partners (2.3.0 types.asciidoc: fields a version does not specify SHALL NOT cause
    # rejection): what the version does not name is ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


Number = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
"""An OCPI number: exact inside, a JSON number on the wire."""

