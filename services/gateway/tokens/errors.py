"""OAuth endpoints answer with RFC 6749 error JSON, not problem+json."""

from __future__ import annotations

from fastapi.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    def __init__(
        self, error: str, description: str, *, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status, self.headers = error, description, status, headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={**NO_STORE, **self.headers},
        )


# One answer for unknown user, wrong password, disabled and locked accounts: nothing to learn from it.
def invalid_credentials() -> OAuthError:
    return OAuthError("invalid_grant", "The username or password is incorrect, or the account cannot sign in.")


def invalid_refresh_token() -> OAuthError:
    return OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.")


def invalid_client(*, basic: bool) -> OAuthError:
    headers = {"WWW-Authenticate": 'Basic realm="govperf"'} if basic else None
    return OAuthError("invalid_client", "Client authentication failed.", status=401, headers=headers)


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)
