"""Router placeholder: filled in by the service work (see api/__init__.py)."""

from fastapi import APIRouter

router = APIRouter()
