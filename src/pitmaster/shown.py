"""Answer models read from a domain object's attributes of the same names."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict


class Shown(BaseModel):
    """A model whose fields are a domain object's attributes, read by name."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, source: object) -> Self:
        return cls.model_validate(source)
