"""SecondOpinion settings: one module, every value from the environment.

Unset variables give the embedded default, which needs no server at all: SQLite under var/,
uploaded files under var/media, a Celery broker kept in files under var/broker and e-mail
printed to the console. `.env.example` lists every variable.
"""

import re
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key() -> str:
    """A random key kept in var/, so the embedded default needs no configuration."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rules.apps.AutodiscoverRulesConfig",
    "django_celery_beat",
    "django_htmx",
    "csp",
    "secondopinion",
    "requests_app",
    "records",
    "insurance",
    "reviewers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "secondopinion.caching.NeverStoreSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "requests_app.accounts.emails_after_response",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "secondopinion.second_factor.SecondFactorMiddleware",
]

ROOT_URLCONF = "secondopinion.urls"
WSGI_APPLICATION = "secondopinion.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "requests_app.context_processors.roles",
                "requests_app.context_processors.unread_notifications",
            ],
        },
    },
]

# Database ------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
EMBEDDED = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# Only the embedded default may make up its own key: web, worker and beat of a real deployment
# must share one, and it must survive a rebuild.
SECRET_KEY = env("SECRET_KEY", default="") or (_embedded_secret_key() if EMBEDDED else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: it is required unless the database is SQLite.")
if EMBEDDED:
    # The web process and the worker write to the same file: WAL lets readers go on while one
    # writes, and IMMEDIATE transactions wait for the lock instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Reuse connections across requests: a new SQLite connection also re-runs the PRAGMAs above.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Files -----------------------------------------------------------------------------------------
# A presigned link to a stored file works this many seconds: enough to start a download, too
# short to be worth passing on.
S3_URL_MAX_AGE = 300


def s3_storage(
    *,
    bucket_name: str,
    endpoint_url: str | None,
    region_name: str,
    access_key: str | None,
    secret_key: str | None,
    encrypt: bool = True,
) -> dict:
    """The S3 storage of every deployment; only the bucket, where it is and its keys vary.

    The tests build their bucket with this too, so what they check is what production runs.
    `encrypt=False` is for MinIO without a KMS, which refuses SSE-S3 (see docker-compose.yml).
    """
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket_name,
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            "access_key": access_key,
            "secret_key": secret_key,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": S3_URL_MAX_AGE,
            # Left unset, boto3 signs links with Signature Version 2, which S3 refuses on buckets
            # made since mid-2020 and whose expiry is a moment, not a lifetime.
            "signature_version": "s3v4",
            "file_overwrite": False,
            # Patients' images and reports are encrypted at rest (SSE-S3).
            "object_parameters": {"ServerSideEncryption": "AES256"} if encrypt else {},
        },
    }


STORAGE_BACKEND = env("STORAGE_BACKEND", default="filesystem")
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
if STORAGE_BACKEND == "filesystem":
    # No MEDIA_URL route exists: stored files are only ever sent by views that check access.
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
    }
elif STORAGE_BACKEND == "s3":
    # Where browsers send study parts (presigned URLs); it may differ from the address the
    # containers use, e.g. MinIO behind the public TLS proxy.
    AWS_S3_PUBLIC_ENDPOINT_URL = env(
        "AWS_S3_PUBLIC_ENDPOINT_URL", default=env("AWS_S3_ENDPOINT_URL", default="")
    )
    default_storage = s3_storage(
        bucket_name=env("AWS_STORAGE_BUCKET_NAME"),
        endpoint_url=env("AWS_S3_ENDPOINT_URL", default=None),
        region_name=env("AWS_S3_REGION_NAME", default="us-east-1"),
        access_key=env("AWS_ACCESS_KEY_ID", default=None),
        secret_key=env("AWS_SECRET_ACCESS_KEY", default=None),
        encrypt=env.bool("AWS_S3_ENCRYPTION", default=True),
    )
else:
    raise ImproperlyConfigured(
        f"STORAGE_BACKEND must be 'filesystem' or 's3', not {STORAGE_BACKEND!r}."
    )

STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# Uploaded documents (reports, pathology, referral letters) are PDFs of modest size.
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=25 * 1024 * 1024)
# Study uploads: parts of a multipart upload wait here on the embedded (disk) storage.
MULTIPART_DIR = Path(env("MULTIPART_DIR", default=str(VAR_DIR / "multipart")))
UPLOAD_PART_MAX_BYTES = env.int("UPLOAD_PART_MAX_BYTES", default=64 * 1024 * 1024)
UPLOAD_FILE_MAX_BYTES = env.int("UPLOAD_FILE_MAX_BYTES", default=8 * 1024**3)
UPLOAD_CASE_QUOTA_BYTES = env.int("UPLOAD_CASE_QUOTA_BYTES", default=40 * 1024**3)
UPLOAD_MAX_FILES = env.int("UPLOAD_MAX_FILES", default=20000)
# Limits per patient: requests started and not yet submitted, uploads in one request, and bytes
# received in all their requests (image files as announced, and documents).
try:
    PATIENT_MAX_OPEN_DRAFTS = env.int("PATIENT_MAX_OPEN_DRAFTS", default=5)
    CASE_MAX_UPLOADS = env.int("CASE_MAX_UPLOADS", default=25)
    PATIENT_QUOTA_BYTES = env.int("PATIENT_QUOTA_BYTES", default=100 * 1024**3)
except ValueError as exc:
    raise ImproperlyConfigured(
        "PATIENT_MAX_OPEN_DRAFTS, CASE_MAX_UPLOADS and PATIENT_QUOTA_BYTES must be whole "
        f"numbers ({exc})."
    ) from exc
for _limit in ("PATIENT_MAX_OPEN_DRAFTS", "CASE_MAX_UPLOADS", "PATIENT_QUOTA_BYTES"):
    if vars()[_limit] < 1:
        raise ImproperlyConfigured(f"{_limit} must be a whole number above zero.")
# An upload left unfinished this long (a closed tab that never came back) is removed.
UPLOAD_ABANDONED_AFTER_DAYS = env.int("UPLOAD_ABANDONED_AFTER_DAYS", default=7)
# The worker lays each upload out here while checking it (on the same disk as var/media, so
# files are hard-linked rather than copied); a file that crashes it this often goes to a person.
VALIDATION_WORK_DIR = Path(env("VALIDATION_WORK_DIR", default=str(VAR_DIR / "work")))
VALIDATION_MAX_ATTEMPTS = env.int("VALIDATION_MAX_ATTEMPTS", default=3)
# The sweeper (beat) sends a check again when its task was lost: an upload still waiting this
# long after it arrived, or still "being checked" this long past the task's time limit.
VALIDATION_REQUEUE_AFTER_MINUTES = env.int("VALIDATION_REQUEUE_AFTER_MINUTES", default=15)
VALIDATION_STALLED_MARGIN_MINUTES = env.int("VALIDATION_STALLED_MARGIN_MINUTES", default=5)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=5000)
FILE_UPLOAD_TEMP_DIR = env("FILE_UPLOAD_TEMP_DIR", default=None)

# Insurance eligibility (insurance/client.py) -----------------------------------------------------
# "rules": answers come from the plans coordinators keep in the admin. "x12-files": an ASC X12 270
# inquiry is written to the outbox and the clearinghouse's 271 answer is read from the inbox (a
# file-drop clearinghouse). Both folders hold PHI (names, birth dates, member IDs).
_ELIGIBILITY_CLIENTS = {
    "rules": "insurance.client.RulesEngineClient",
    "x12-files": "insurance.client.X12FileClient",
}
INSURANCE_ELIGIBILITY = env("INSURANCE_ELIGIBILITY", default="rules")
if INSURANCE_ELIGIBILITY not in _ELIGIBILITY_CLIENTS:
    raise ImproperlyConfigured(
        f"INSURANCE_ELIGIBILITY must be one of {', '.join(_ELIGIBILITY_CLIENTS)}, "
        f"not {INSURANCE_ELIGIBILITY!r}."
    )
INSURANCE_ELIGIBILITY_CLIENT = _ELIGIBILITY_CLIENTS[INSURANCE_ELIGIBILITY]
INSURANCE_X12_OUTBOX = env("INSURANCE_X12_OUTBOX", default=str(VAR_DIR / "x12" / "outbox"))
INSURANCE_X12_INBOX = env("INSURANCE_X12_INBOX", default=str(VAR_DIR / "x12" / "inbox"))
INSURANCE_X12_SENDER_ID = env("INSURANCE_X12_SENDER_ID", default="")
INSURANCE_X12_USAGE = env("INSURANCE_X12_USAGE", default="T")
INSURANCE_PROVIDER_NAME = env("INSURANCE_PROVIDER_NAME", default="")
INSURANCE_PROVIDER_NPI = env("INSURANCE_PROVIDER_NPI", default="")
if INSURANCE_ELIGIBILITY == "x12-files":
    for _name in ("INSURANCE_X12_SENDER_ID", "INSURANCE_PROVIDER_NAME", "INSURANCE_PROVIDER_NPI"):
        if not vars()[_name].strip():
            raise ImproperlyConfigured(f"INSURANCE_ELIGIBILITY=x12-files needs {_name}.")
    if not re.fullmatch(r"\d{10}", INSURANCE_PROVIDER_NPI):
        raise ImproperlyConfigured("INSURANCE_PROVIDER_NPI must be the 10-digit NPI.")
    if INSURANCE_X12_USAGE not in ("T", "P"):
        raise ImproperlyConfigured("INSURANCE_X12_USAGE must be T (test) or P (production).")

# Celery ----------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # default: ./control, in the checkout
        "store_processed": False,
    }
else:
    # A task a worker took but never acknowledged comes back after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# No global soft limit: its exception would surface inside the DICOM checks, which take almost
# any exception for a damaged file. A check over the hard limit is redelivered and counted.
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic jobs (beat copies them into its database schedule, where the admin can tune them).
CELERY_BEAT_SCHEDULE = {
    "check-sla": {"task": "requests_app.tasks.check_sla_task", "schedule": 15 * 60},
    "remind-records-requests": {
        "task": "records.tasks.remind_records_requests_task",
        "schedule": 6 * 60 * 60,
    },
    "sweep-uploads": {"task": "requests_app.tasks.sweep_uploads_task", "schedule": 5 * 60},
}
CELERY_TIMEZONE = "UTC"

# Accounts --------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    # Django's and allauth's, each loading the user with what their role is read from.
    "requests_app.roles.RoleModelBackend",
    "requests_app.roles.RoleAccountBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "requests:case-list"
ACCOUNT_ADAPTER = "requests_app.accounts.AccountAdapter"
ACCOUNT_FORMS = {"signup": "requests_app.accounts.SignupForm"}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_USER_DISPLAY = "requests_app.accounts.user_display"
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "SecondOpinion: "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
ACCOUNT_PREVENT_ENUMERATION = True
# Rate limits, each "amount/period" (period s, m, h or d, e.g. 20/m or 100/5m). An address is
# the client's (see BEHIND_PROXY); patients of one clinic behind one NAT share theirs, so the
# limit on every login from an address is far above what one person does, and failures are
# what is held tight. LOGIN_LOCKOUT_ATTEMPTS failed logins for one account (wrong one-time codes
# count too) lock it for LOGIN_LOCKOUT_MINUTES, known or not; the account is its e-mail,
# however spelled (requests_app/accounts.py).
LOGIN_LIMIT_PER_ADDRESS = env("LOGIN_LIMIT_PER_ADDRESS", default="300/m")
LOGIN_FAILURES_PER_ADDRESS = env("LOGIN_FAILURES_PER_ADDRESS", default="20/m")
LOGIN_LOCKOUT_ATTEMPTS = env.int("LOGIN_LOCKOUT_ATTEMPTS", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
SIGNUP_LIMIT_PER_ADDRESS = env("SIGNUP_LIMIT_PER_ADDRESS", default="20/m")
PASSWORD_RESET_LIMIT_PER_ADDRESS = env("PASSWORD_RESET_LIMIT_PER_ADDRESS", default="20/m")
PASSWORD_RESET_LIMIT_PER_ACCOUNT = env("PASSWORD_RESET_LIMIT_PER_ACCOUNT", default="5/m")
PASSWORD_RESET_LINK_LIMIT_PER_ADDRESS = env("PASSWORD_RESET_LINK_LIMIT_PER_ADDRESS", default="20/m")
_RATE = re.compile(r"[1-9]\d*/\d*[smhd]")
for _name in (
    "LOGIN_LIMIT_PER_ADDRESS",
    "LOGIN_FAILURES_PER_ADDRESS",
    "SIGNUP_LIMIT_PER_ADDRESS",
    "PASSWORD_RESET_LIMIT_PER_ADDRESS",
    "PASSWORD_RESET_LIMIT_PER_ACCOUNT",
    "PASSWORD_RESET_LINK_LIMIT_PER_ADDRESS",
):
    if not _RATE.fullmatch(vars()[_name]):
        raise ImproperlyConfigured(
            f"{_name} must be amount/period, e.g. 20/m or 100/5m, not {vars()[_name]!r}."
        )
if LOGIN_LOCKOUT_ATTEMPTS < 1 or LOGIN_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured(
        "LOGIN_LOCKOUT_ATTEMPTS and LOGIN_LOCKOUT_MINUTES must be 1 or more."
    )
ACCOUNT_RATE_LIMITS = {
    "login": f"{LOGIN_LIMIT_PER_ADDRESS}/ip",
    "login_failed": (
        f"{LOGIN_FAILURES_PER_ADDRESS}/ip,{LOGIN_LOCKOUT_ATTEMPTS}/{LOGIN_LOCKOUT_MINUTES}m/key"
    ),
    "signup": f"{SIGNUP_LIMIT_PER_ADDRESS}/ip",
    "reset_password": (
        f"{PASSWORD_RESET_LIMIT_PER_ADDRESS}/ip,{PASSWORD_RESET_LIMIT_PER_ACCOUNT}/key"
    ),
    "reset_password_from_key": f"{PASSWORD_RESET_LINK_LIMIT_PER_ADDRESS}/ip",
}
# Reviewers and coordinators must use a second factor (secondopinion/second_factor.py).
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = "SecondOpinion"

# Cache: rate limits, lockouts and used one-time codes. Every web process must share it, e.g.
# redis://redis:6379/1; the embedded default keeps it in the memory of its one process.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
# The viewer's images, decoded once from whatever the scanner compressed them with
# (records/viewer.py). They hold pixels and geometry, never a name or an ID. Bounded by entries
# on the embedded default (files under var/, none larger than VIEWER_CACHE_ITEM_MAX_BYTES); on
# Redis, give it a maxmemory with an LRU policy. Nothing breaks when an entry is gone.
CACHES["viewer"] = env.cache_url(
    "VIEWER_CACHE_URL", default=f"filecache://{VAR_DIR / 'viewer-cache'}?max_entries=2000"
)
VIEWER_CACHE_SECONDS = env.int("VIEWER_CACHE_SECONDS", default=24 * 3600)
VIEWER_CACHE_ITEM_MAX_BYTES = env.int("VIEWER_CACHE_ITEM_MAX_BYTES", default=64 * 2**20)

# E-mail ----------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="SecondOpinion <care@secondopinion.test>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Who we are on paper: the billing provider named on estimates and statements (45 CFR 149.610
# asks for its NPI and TIN), where patients write to revoke a HIPAA authorization (45 CFR
# 164.508(c)(2)(i)), and where facilities send records a patient asks to go straight to us.
PROVIDER_NAME = env("PROVIDER_NAME", default="SecondOpinion Medical Group")
PROVIDER_NPI = env("PROVIDER_NPI", default="1234567893")
PROVIDER_TIN = env("PROVIDER_TIN", default="00-0000000")
PROVIDER_ADDRESS = env("PROVIDER_ADDRESS", default="100 Main Street, Springfield, IL 62701")
PRIVACY_OFFICE_EMAIL = env("PRIVACY_OFFICE_EMAIL", default="privacy@secondopinion.test")
RECORDS_INBOX_EMAIL = env("RECORDS_INBOX_EMAIL", default="records@secondopinion.test")

# Security --------------------------------------------------------------------------------------
# A site that answers to a public host name is served over HTTPS unless told otherwise; one that
# answers only on this machine (the embedded default, the tests) speaks plain HTTP.
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
HTTPS = env.bool("HTTPS", default=not DEBUG and not set(ALLOWED_HOSTS) <= _LOCAL_HOSTS)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SECURE_SSL_REDIRECT = HTTPS and env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probes inside the network speak plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and env.bool("SECURE_HSTS_PRELOAD", default=True)
# How many reverse proxies of ours stand between the clients and this app: "no" (none) or a
# number. Rate limits and the audit log take the client's address from X-Forwarded-For, the
# entry that many places from the end (each proxy appends the address it saw); what a client
# writes there itself is never believed. Wrong either way, every user shares one address, or a
# client picks its own, so a production site must say which.
_behind_proxy = env("BEHIND_PROXY", default="").strip().lower()
if _behind_proxy in ("no", "false", "0"):
    TRUSTED_PROXY_COUNT = 0
elif _behind_proxy in ("yes", "true"):
    TRUSTED_PROXY_COUNT = 1
elif _behind_proxy.isdigit():
    TRUSTED_PROXY_COUNT = int(_behind_proxy)
elif not _behind_proxy and (DEBUG or set(ALLOWED_HOSTS) <= _LOCAL_HOSTS):
    TRUSTED_PROXY_COUNT = 0  # this machine only: nothing stands in front
else:
    raise ImproperlyConfigured(
        "Set BEHIND_PROXY: 'no' when clients connect to this app directly, or the number of "
        "reverse proxies in front of it (usually 1)"
        + (f", not {_behind_proxy!r}." if _behind_proxy else ".")
    )
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Study parts go straight from the browser to S3 when files live there.
_upload_origins = (
    [AWS_S3_PUBLIC_ENDPOINT_URL or "https://*.amazonaws.com"] if STORAGE_BACKEND == "s3" else []
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'", *_upload_origins],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

# I18n ------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

# Logging: never PHI. Log lines carry case codes (UUIDs) and problem codes, never names or files.
# secondopinion/logs.py makes every record safe as it is created (ours, Django's, Celery's,
# gunicorn's): exceptions keep their type and where they were raised, never their message,
# and access lines lose their query strings.
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING_CONFIG = "secondopinion.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
