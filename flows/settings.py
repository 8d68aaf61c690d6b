"""Every setting of nianbao, read from ``NIANBAO_*`` environment variables when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from transforms.changes import ChangeBounds
from transforms.counting import DEFAULT_OUTCOME_PRECEDENCE, AppealsRule
from transforms.errors import InputError
from transforms.report import CountingRules

if TYPE_CHECKING:  # imported when used: the settings load without polars or boto3
    from flows.io.landing import LocalLanding, S3Landing
    from flows.io.store import LocalStore, S3Store


class S3Settings(BaseModel):
    """How to reach an S3-compatible object store; credentials come from the AWS chain."""

    endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint, e.g. http://127.0.0.1:8333; None for AWS."
    )
    region: str = Field("us-east-1", description="Region name sent with signed requests.")
    max_retries: int = Field(
        6, description="Retries per request on throttling, 5xx and dropped connections (backoff)."
    )


class ChangeSettings(BaseModel):
    """When W5 (与上年相比变化异常) asks about a change from last year's published report."""

    channel_fall: float = Field(
        ChangeBounds.channel_fall,
        gt=0,
        le=1,
        description="A channel's items fell by this share or more (0.9: by 90%) …",
    )
    channel_fall_from: int = Field(
        ChangeBounds.channel_fall_from, ge=0, description="… from at least this many items."
    )
    requests_rise: float = Field(
        ChangeBounds.requests_rise,
        gt=1,
        description="New requests (三、一 总计) this many times last year's or more …",
    )
    requests_rise_from: int = Field(
        ChangeBounds.requests_rise_from, ge=0, description="… from at least this many."
    )
    decisions_factor: float = Field(
        ChangeBounds.decisions_factor,
        gt=1,
        description="许可/处罚/强制 decisions up or down by this factor or more …",
    )
    decisions_from: int = Field(
        ChangeBounds.decisions_from, ge=0, description="… from at least this many last year."
    )

    @property
    def bounds(self) -> ChangeBounds:
        return ChangeBounds(**self.model_dump())


class HistorySettings(BaseModel):
    """How long ``nianbao history prune`` keeps provisional versions of a report (year-to-date,
    nightly); final versions, the current version and the versions holding their files are
    always kept (docs/published-output.md)."""

    provisional_days: int = Field(
        90,
        ge=0,
        description="Keep a report's provisional versions this many days after its first final "
        "version was published …",
    )
    keep_provisional: int = Field(
        10, ge=0, description="… and in any case its last this many provisional versions."
    )


class Settings(BaseSettings):
    """nianbao's settings. Nested fields use ``__``: ``NIANBAO_S3__ENDPOINT_URL``."""

    model_config = SettingsConfigDict(env_prefix="NIANBAO_", env_nested_delimiter="__")

    landing: str = Field("landing", description="Landing zone: a folder or s3://bucket/prefix.")
    out: str = Field("published", description="Published dataset: a folder or s3://bucket/prefix.")
    warehouse: str = Field(
        "warehouse",
        description="Normalized records and quarantine; never inside `out` (it is record-level).",
    )
    outcome_precedence: tuple[str, ...] = Field(
        DEFAULT_OUTCOME_PRECEDENCE,
        description="Refusal groups in precedence order for requests with several answer items.",
    )
    appeals_rule: AppealsRule = Field(
        AppealsRule.FILED_OR_CONCLUDED, description="Which review/litigation cases a year counts."
    )
    dask_address: str | None = Field(
        None,
        description="Scheduler of an existing Dask cluster to run tasks on, e.g. tcp://host:8786.",
    )
    s3: S3Settings = Field(default_factory=S3Settings)
    changes: ChangeSettings = Field(default_factory=ChangeSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)

    def store(self, uri: str) -> LocalStore | S3Store:
        """The folder or S3 prefix at ``uri``, with this configuration's S3 endpoint."""
        from flows.io.store import open_store

        return open_store(uri, self.s3.endpoint_url, self.s3.region, self.s3.max_retries)

    def landing_zone(self) -> LocalLanding | S3Landing:
        from flows.io.landing import open_landing

        return open_landing(self.landing, self.s3.endpoint_url, self.s3.region, self.s3.max_retries)

    @property
    def counting_rules(self) -> CountingRules:
        return CountingRules(self.outcome_precedence, self.appeals_rule)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (command-line) values taking precedence.

    A value that is not valid is a ValueError of one line naming its variable.
    """
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        problems = "; ".join(
            f"NIANBAO_{'__'.join(str(part) for part in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise InputError(f"settings: {problems}") from None


def _place(uri: str) -> tuple[str, tuple[str, ...]]:
    """Where a location is, comparably: an S3 bucket and prefix parts, or a resolved folder."""
    from flows.io.store import S3_SCHEME, split_s3_uri

    if uri.startswith(S3_SCHEME):
        bucket, prefix = split_s3_uri(uri)
        return f"{S3_SCHEME}{bucket}", tuple(filter(None, prefix.split("/")))
    return "", Path(uri).resolve().parts


def _within(inner: tuple[str, tuple[str, ...]], outer: tuple[str, tuple[str, ...]]) -> bool:
    """Whether ``inner`` is ``outer`` or inside it."""
    return inner[0] == outer[0] and inner[1][: len(outer[1])] == outer[1]


def check_locations(settings: Settings) -> None:
    """ValueError (one line) when the landing zone, the output and the warehouse overlap unsafely.

    nianbao never writes into the landing zone (the next run would read its own output as
    deliveries); the warehouse holds record-level data and the landing zone raw records with
    personal data, so neither may sit inside the published output.
    """
    landing, out, warehouse = (
        _place(u) for u in (settings.landing, settings.out, settings.warehouse)
    )
    refused = [
        (out, landing, "the published output", "the landing zone", "nianbao never writes there"),
        (warehouse, landing, "the warehouse", "the landing zone", "nianbao never writes there"),
        (warehouse, out, "the warehouse", "the published output", "it holds record-level data"),
        (landing, out, "the landing zone", "the published output", "it holds personal data"),
    ]
    for inner, outer, inner_name, outer_name, why in refused:
        if _within(inner, outer):
            raise InputError(
                f"{inner_name} ({_shown(inner)}) must not be, or be inside, {outer_name} "
                f"({_shown(outer)}): {why}"
            )


def _shown(place: tuple[str, tuple[str, ...]]) -> str:
    root, parts = place
    return "/".join([root, *parts]) if root else str(Path(*parts))
