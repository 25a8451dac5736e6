"""Process settings, read once from `SCIMGATE_*` environment variables and passed down."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-change-me"
DOCS_SECRET_KEY = "REPLACE_WITH_OUTPUT_OF_openssl_rand_-hex_32"  # docs/deploy.md's example
MIN_SECRET_KEY_BYTES = 32  # outside development (docs/deploy.md)
_MAKE_KEY = "make one with: openssl rand -hex 32"


class Settings(BaseSettings):
    """Everything a scimgate process is configured with; built by the entry point, never global."""

    model_config = SettingsConfigDict(env_prefix="SCIMGATE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///scimgate.db"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEV_SECRET_KEY
    environment: str = "development"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_page_size: int = Field(default=1000, ge=1)
    default_page_size: int = Field(default=100, ge=1)
    max_patch_operations: int = Field(default=1000, ge=1)
    # SCIM Bulk (docs/scim.md): operations per request, and its body limit (checked before auth).
    bulk_max_operations: int = Field(default=1000, ge=1)
    bulk_max_payload_bytes: int = Field(default=1024 * 1024, ge=1024)
    request_log_max_rows: int = Field(default=10_000, ge=0)
    request_log_max_days: int = Field(default=30, ge=1)
    request_log_flush_seconds: float = Field(default=1.0, gt=0)
    log_level: str = "info"
    # Synchronize and its daily schedule (docs/sync.md).
    scheduler: bool = True  # run the daily-sync scheduler inside `serve`
    scheduler_interval_seconds: float = Field(default=30.0, gt=0)
    sync_batch_size: int = Field(default=1000, ge=10, le=10_000)
    sync_stale_seconds: float = Field(default=120.0, gt=0)
    # Webhooks (docs/api.md).
    webhooks: bool = True  # run the delivery worker inside `serve`
    webhooks_allow_private: bool = False  # allow endpoint URLs on private/loopback addresses
    webhook_interval_seconds: float = Field(default=1.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Waits after the 1st, 2nd, ... failed attempt of an event (about a day in all); when
    # they are used up the endpoint is marked failing and waits for someone to resume it.
    webhook_retry_seconds: list[float] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000], min_length=1, max_length=50
    )

    # Limits and deadlines on every surface (docs/operations.md).
    workers: int = Field(default=1, ge=1, le=64)  # set by `serve --workers`; limits are shared out
    request_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300
    )  # one request's database work
    db_statement_timeout_ms: int = Field(default=5000, ge=100)  # PostgreSQL statement_timeout
    db_lock_timeout_ms: int = Field(default=2000, ge=10)  # PostgreSQL lock_timeout
    sqlite_busy_timeout_ms: int = Field(default=2000, ge=10)  # wait for SQLite's write lock
    db_threads: int = Field(default=8, ge=1, le=64)  # threads doing SCIM database work per process
    db_queue_seconds: float = Field(default=2.0, gt=0)  # wait for a free thread, then 503
    account_concurrency: int = Field(
        default=4, ge=1
    )  # one account's requests in the database at once
    filter_budget: int = Field(default=100, ge=1)  # cost of one SCIM filter (docs/operations.md)
    group_member_page: int = Field(default=5000, ge=1, le=100_000)  # a bigger Group GET streams
    rate_limits: bool = True
    # Sustained rates far above an IdP's (Entra: under 25/s per tenant) and bursts that let a
    # first sync or a conformance suite run at full speed for a while (docs/operations.md).
    scim_rate_per_second: float = Field(default=200.0, gt=0)  # per account, and per token
    scim_rate_burst: int = Field(default=2000, ge=1)
    api_rate_per_second: float = Field(default=100.0, gt=0)  # per account, and per API key
    api_rate_burst: int = Field(default=1000, ge=1)
    metrics: bool = True  # Prometheus metrics at /metrics
    metrics_allow_ips: str = "127.0.0.1,::1"  # who may read /metrics without a token ("*": anyone)
    metrics_token: str = ""  # when set, /metrics wants `Authorization: Bearer <token>` instead

    # Console sign-in throttling (docs/console.md): waits per client IP, never a lock-out.
    login_ip_max_failures: int = Field(default=10, ge=1)  # from one IP, then it waits
    login_account_max_failures: int = Field(default=30, ge=1)  # one account, every IP: strict
    login_email_max_failures: int = Field(default=5, ge=1)  # one (account, email): strict
    login_window_seconds: float = Field(default=3600.0, gt=0)  # quiet time that resets a count
    login_backoff_seconds: float = Field(default=5.0, gt=0)  # the first wait; doubles each time
    login_backoff_max_seconds: float = Field(default=900.0, gt=0)  # the longest wait

    # Slow clients, connections and proxies of `serve` (docs/operations.md).
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)  # whole request head
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)  # longest pause in a body
    keepalive_seconds: int = Field(default=5, ge=1, le=300)  # idle keep-alive connection
    max_connections: int | None = Field(default=None, ge=1)  # per process; None: 80% of fds
    forwarded_allow_ips: str = "127.0.0.1"  # proxies trusted for X-Forwarded-For/Proto

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        """Accept the `postgres://` spellings people paste and use psycopg 3."""
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        """Keep one spelling so URLs are built by plain concatenation."""
        return value.rstrip("/")

    def check_production(self) -> None:
        """Refuse a default, short or one-note secret outside development: it signs the
        console's cookies, so guessing it is signing in."""
        if self.environment == "development":
            return
        key = self.secret_key
        if key in (DEV_SECRET_KEY, DOCS_SECRET_KEY):
            raise ValueError(f"SCIMGATE_SECRET_KEY must be set outside development; {_MAKE_KEY}")
        if len(key.encode("utf-8")) < MIN_SECRET_KEY_BYTES or len(set(key)) < 8:
            raise ValueError(
                f"SCIMGATE_SECRET_KEY is too weak for SCIMGATE_ENVIRONMENT={self.environment}: "
                f"it needs at least {MIN_SECRET_KEY_BYTES} bytes of random text; {_MAKE_KEY}"
            )

    @property
    def tenant_url(self) -> str:
        """The SCIM base URL an IdP admin pastes as Tenant URL."""
        return f"{self.public_url}/scim/v2"
