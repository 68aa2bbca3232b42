"""Errors in Databricks' shape: ``{"error_code": "...", "message": "..."}`` with the matching
HTTP status, so the ``databricks-sdk`` raises its usual exceptions (NotFound, ...)."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """An API error: HTTP ``status``, Databricks ``error_code`` and a message."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def invalid_state(message: str) -> ApiError:
    return ApiError(400, "INVALID_STATE", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def denied(message: str) -> ApiError:
    return ApiError(403, "PERMISSION_DENIED", message)


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message)


def _body(code: str, message: str) -> dict[str, Any]:
    return {"error_code": code, "message": message}


def describe_validation_errors(e: RequestValidationError) -> str:
    """A sentence per invalid field, e.g. ``run_id: Input should be a valid integer (got 'abc')``."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path"))
        got = f" (got {err['input']!r})" if isinstance(err.get("input"), (str, int, float)) else ""
        parts.append(f"{loc}: {err.get('msg')}{got}" if loc else f"{err.get('msg')}{got}")
    return "; ".join(parts) or "invalid request"


def _out_of_range(e: BaseException) -> bool:
    """A number too large for the store's 64-bit columns (SQLite: OverflowError; PostgreSQL:
    NumericValueOutOfRange), which only user input can produce."""
    from sqlalchemy.exc import DataError, StatementError

    if isinstance(e, OverflowError) or isinstance(e, DataError):
        return True
    return isinstance(e, StatementError) and isinstance(e.orig, OverflowError)


def install_error_handlers(app: FastAPI) -> None:
    """Turn every error the app can raise into the Databricks error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return JSONResponse(_body(e.error_code, e.message), status_code=e.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse(_body("INVALID_PARAMETER_VALUE", describe_validation_errors(e)), status_code=400)

    async def _range(_: Request, e: Exception) -> JSONResponse:
        if not _out_of_range(e):
            return JSONResponse(_body("INTERNAL_ERROR", f"{type(e).__name__}: {e}"), status_code=500)
        return JSONResponse(_body("INVALID_PARAMETER_VALUE", "a number in the request is out of range "
                                  "(ids and offsets are 64-bit integers)"), status_code=400)

    from sqlalchemy.exc import StatementError

    app.add_exception_handler(OverflowError, _range)
    app.add_exception_handler(StatementError, _range)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "ENDPOINT_NOT_FOUND", 405: "BAD_REQUEST", 401: "UNAUTHENTICATED",
                403: "PERMISSION_DENIED"}.get(e.status_code, "BAD_REQUEST")
        return JSONResponse(_body(code, str(e.detail)), status_code=e.status_code)

    @app.exception_handler(Exception)
    async def _internal(_: Request, e: Exception) -> JSONResponse:
        return JSONResponse(_body("INTERNAL_ERROR", f"{type(e).__name__}: {e}"), status_code=500)
