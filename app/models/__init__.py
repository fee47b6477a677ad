"""Database models.  Import every model module here so Alembic and the app see them all."""
from app.ledger.models import LedgerAccount, LedgerTransfer  # noqa: F401
from app.models.account_security import LoginThrottle, StaffSetupToken  # noqa: F401
from app.models.adjustment import LedgerAdjustment  # noqa: F401
from app.models.audit import AuditEvent  # noqa: F401
from app.models.dispute import DisputeCase, DisputeFile, DisputeMessage  # noqa: F401
from app.models.ledger_check import LedgerCheck  # noqa: F401
from app.models.limits import UserLimit  # noqa: F401
from app.models.market import Deposit, WithdrawalRequest  # noqa: F401
from app.models.notification import Notification, NotificationDelivery, NotificationSettings  # noqa: F401
from app.models.payment_exception import PaymentException  # noqa: F401
from app.models.payment_form import PaymentForm  # noqa: F401
from app.models.provider_event import ProviderEvent  # noqa: F401
from app.models.reserves import ReserveLeaf, ReserveSnapshot  # noqa: F401
from app.models.room import CashOut, ReconciliationRun, RoomAccount, RoomCursor, RoomTransfer  # noqa: F401
from app.models.settings import PlatformSettings  # noqa: F401
from app.models.split import SplitPart, SplitPurchase  # noqa: F401
from app.models.telegram import TelegramLinkToken, TelegramPollState, TelegramReply, TelegramUpdate  # noqa: F401
from app.models.user import Role, User  # noqa: F401
