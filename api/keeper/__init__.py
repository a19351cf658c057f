"""Settlement keeper: :class:`api.keeper.core.Keeper`, its background runner and CLI."""

from api.keeper.core import Keeper, KeeperAction, KeeperReport

__all__ = ["Keeper", "KeeperAction", "KeeperReport"]
