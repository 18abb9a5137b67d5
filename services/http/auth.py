"""Who is calling: API key -> tenant. 401 without a valid key, 403 for another tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from projections.postgres.api_keys import ApiKey, verify

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer kl_<id>_<secret>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or X-API-Key: ...")


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    presented = bearer.credentials if bearer is not None else header
    if not presented:
        raise HTTPException(
            401,
            detail="missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    async with request.app.state.pool.acquire() as conn:
        key = await verify(conn, presented)
    if key is None:
        raise HTTPException(
            401, detail="invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return key


async def tenant_key(tenant_id: str, key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
    if key.is_operator:
        raise HTTPException(403, detail="an operator key reads /v1/status only, no tenant's data")
    if key.tenant_id != tenant_id:
        raise HTTPException(403, detail="this API key is not valid for this tenant")
    return key


async def operator_key(key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
    if not key.is_operator:
        raise HTTPException(
            403,
            detail="operator-wide status needs an operator key ('kretslopp keys create "
            "--operator'); a tenant key reads /v1/tenants/{tenant_id}/status",
        )
    return key


Caller = Annotated[ApiKey, Depends(caller)]
TenantCaller = Annotated[ApiKey, Depends(tenant_key)]
OperatorCaller = Annotated[ApiKey, Depends(operator_key)]
