"""The one GraphQL schema of the gateway, with its limits.

Adding a root field: write a ``@strawberry.type`` class of resolvers and append it to
``QUERY_PARTS``. Services' data comes through loaders over their REST APIs; the gateway's own
(users) straight from the identity service functions, with the same authorization as REST."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from services.gateway.config import Settings
from services.gateway.graph.appraisal_api import AppraisalQuery
from services.gateway.graph.context import GraphInfo
from services.gateway.graph.errors import BAD_USER_INPUT, FORBIDDEN, GraphError, is_unexpected
from services.gateway.graph.feedback_api import FeedbackQuery
from services.gateway.graph.survey_api import SurveyQuery
from services.gateway.graph.types import (
    Framework,
    FrameworkConnection,
    FrameworkStatus,
    Me,
    User,
    UserConnection,
    documented_field,
)
from services.gateway.identity import service as identity
from services.gateway.identity.logic import USER_MANAGERS
from services.gateway.identity.schemas import UserRead
from shared.auth.principal import ORG_PATH_RE
from shared.errors import BadRequest, Forbidden, NotFound
from shared.pagination import PageParams, decode_cursor

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAX_CURSOR_CHARS = 64  # the service's own cap


@strawberry.type
class FrameworkQuery:
    @documented_field("One framework version; null when it does not exist or you may not read it.")
    async def framework(self, info: GraphInfo, id: uuid.UUID) -> Framework | None:
        record = await info.context.loaders.framework_by_id.load(id)
        return Framework.from_record(record) if record is not None else None

    @documented_field("Frameworks you may read (published ones and drafts in your scope), by id order.")
    async def frameworks(
        self,
        info: GraphInfo,
        status: FrameworkStatus | None = None,
        code: str | None = None,
        org_path: str | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> FrameworkConnection:
        _page_size(first)
        if after is not None and len(after) > MAX_CURSOR_CHARS:
            raise GraphError(BAD_USER_INPUT, "after is not a cursor from this API.")
        page = await info.context.indicator_api.list_frameworks(
            status=status.value if status else None, code=code, org_path=org_path, limit=first, cursor=after
        )
        info.context.loaders.remember_frameworks(page.items)
        return FrameworkConnection(items=[Framework.from_record(r) for r in page.items], next_cursor=page.next_cursor)


@strawberry.type
class UserQuery:
    @documented_field("Accounts you may manage (admin: all; performance office: its subtree), by id order.")
    async def users(
        self, info: GraphInfo, org_path: str | None = None, first: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> UserConnection:
        page = PageParams(limit=_page_size(first), cursor=_cursor(after))
        if org_path is not None and not ORG_PATH_RE.fullmatch(org_path):
            raise GraphError(BAD_USER_INPUT, "orgPath must look like /province/city/county.")
        try:
            async with info.context.identity_session() as session:
                found, next_cursor = await identity.list_users(
                    session, principal=info.context.principal, page=page, org_path=org_path, ids=None
                )
        except Forbidden as exc:
            raise GraphError(FORBIDDEN, exc.detail) from None
        return UserConnection(items=[_user(u) for u in found], next_cursor=next_cursor)

    @documented_field("One account; null when it does not exist or is outside what you may manage.")
    async def user(self, info: GraphInfo, id: uuid.UUID) -> User | None:
        principal = info.context.principal
        if not principal.has_any(USER_MANAGERS):
            raise GraphError(FORBIDDEN, "Only an admin or the performance office may read users.")
        try:
            async with info.context.identity_session() as session:
                return _user(await identity.get_user(session, principal=principal, user_id=id))
        except NotFound:
            return None


def _user(user: object) -> User:
    return User.from_read(UserRead.model_validate(user))


def _page_size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise GraphError(BAD_USER_INPUT, f"first must be between 1 and {MAX_PAGE_SIZE}.")
    return first


def _cursor(after: str | None) -> uuid.UUID | None:
    if after is None:
        return None
    try:
        return decode_cursor(after[:MAX_CURSOR_CHARS])
    except BadRequest:
        raise GraphError(BAD_USER_INPUT, "after is not a cursor from this API.") from None


@strawberry.type
class ViewerQuery:
    @documented_field("The caller.")
    def me(self, info: GraphInfo) -> Me:
        return Me.from_principal(info.context.principal)


QUERY_PARTS: tuple[type, ...] = (FrameworkQuery, UserQuery, ViewerQuery, SurveyQuery, FeedbackQuery, AppraisalQuery)
Query = merge_types("Query", QUERY_PARTS)


def build_schema(settings: Settings) -> strawberry.Schema:
    """Limits always; introspection, field suggestions and raw error messages only in development."""
    development = settings.env == "development"
    # Factories, not instances: strawberry builds fresh extensions for every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
    ]
    if not development:
        extensions += [DisableIntrospection, partial(MaskErrors, should_mask_error=is_unexpected)]
    # Suggestions ("Did you mean ...?") would leak the schema that introspection hides.
    config = StrawberryConfig(disable_field_suggestions=not development)
    return strawberry.Schema(query=Query, extensions=extensions, config=config)
