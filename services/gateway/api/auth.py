"""Placeholder router, replaced by the gateway work in progress."""

from fastapi import APIRouter

router = APIRouter()
