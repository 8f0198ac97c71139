# No `from __future__ import annotations`: ninja must see the real parameter types.
from ninja import Router

router = Router(tags=["sensors"])
