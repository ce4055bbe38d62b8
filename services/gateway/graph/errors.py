"""Errors the graph reports on purpose: a stable ``extensions.code`` and a message safe to show.

Anything else that escapes a resolver is a bug and is masked outside development."""

from __future__ import annotations

from graphql import GraphQLError

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
BAD_USER_INPUT = "BAD_USER_INPUT"
RATE_LIMITED = "RATE_LIMITED"
UNAVAILABLE = "UNAVAILABLE"

MAX_DETAIL_CHARS = 300


class GraphError(Exception):
    """An error meant for the client; graphql-core copies ``extensions`` into the reported error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.extensions = {"code": code}


def error_for_status(status: int, detail: str | None = None) -> GraphError:
    """The GraphQL error for a service's non-2xx answer. Only input problems (400/422) repeat the
    service's own problem+json detail, which is written for users; nothing else leaks through."""
    if status in (400, 422):
        text = detail[:MAX_DETAIL_CHARS] if detail else "The request has invalid arguments."
        return GraphError(BAD_USER_INPUT, text)
    if status == 401:
        return GraphError(UNAUTHENTICATED, "Authentication required.")
    if status == 403:
        return GraphError(FORBIDDEN, "Your roles do not allow this.")
    if status == 404:
        return GraphError(NOT_FOUND, "Not found.")
    if status == 429:
        return GraphError(RATE_LIMITED, "Too many requests; retry later.")
    return GraphError(UNAVAILABLE, "A service the graph depends on is unavailable; retry later.")


def is_unexpected(error: GraphQLError) -> bool:
    """Mask errors raised by code, except our own. Parse and validation errors (depth, aliases,
    tokens, unknown fields) carry no original error: they describe the query, so they stay."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphError)
