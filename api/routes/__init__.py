"""One router per area; each module exposes ``router`` (an ``APIRouter``)."""
