"""Who may do what on the cluster: roles as data (deploy/access/roles.yaml), turned into Kafka ACLs.

`load(path, topics, app_id)` reads and validates the roles file into a plan; `plan.grants` is the set of ACL
bindings it means, every one an ALLOW (nothing else is allowed: the broker runs with
allow.everyone.if.no.acl.found=false). `allows(grants, ...)` answers "may this principal do this" the way
Kafka's StandardAuthorizer does for ALLOW bindings, so `acl check` can print who can do what from the ACLs
the broker holds. `apply` and `current` talk to the broker through kafka-python's admin API.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streams.errors import ConfigError
from streams.wire.topics import Topics, changelog_of

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ROLES = REPO_ROOT / "deploy" / "access" / "roles.yaml"

#: Operations that imply Describe (Kafka: READ, WRITE, DELETE and ALTER imply DESCRIBE on the same resource).
_IMPLIES_DESCRIBE = {"READ", "WRITE", "DELETE", "ALTER"}
_ROLE_KEYS = {"says", "read", "write", "groups", "app", "states"}


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW binding: principal may do operation on the resource (named literally or by prefix)."""

    principal: str
    resource_type: str  # TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID
    name: str
    pattern: str  # LITERAL or PREFIXED
    operation: str  # READ, WRITE, DESCRIBE, CREATE, DESCRIBE_CONFIGS, ALL, ...

    def covers(self, principal: str, operation: str, resource_type: str, name: str) -> bool:
        """True when this binding allows the operation on that resource for that principal."""
        if self.principal not in (principal, "User:*") or self.resource_type != resource_type:
            return False
        if self.pattern == "PREFIXED":
            named = name.startswith(self.name)
        else:
            named = self.name in (name, "*")
        implied = operation == "DESCRIBE" and self.operation in _IMPLIES_DESCRIBE
        implied |= operation == "DESCRIBE_CONFIGS" and self.operation == "ALTER_CONFIGS"
        return named and (self.operation in (operation, "ALL") or implied)


def allows(grants: Iterable[Grant], principal: str, operation: str, resource_type: str, name: str) -> bool:
    """True when any binding allows it."""
    return any(g.covers(principal, operation, resource_type, name) for g in grants)


@dataclass(frozen=True)
class Role:
    """A role of the roles file, its topic ids resolved to names."""

    name: str
    says: str
    read: tuple[str, ...]
    write: tuple[str, ...]
    groups: tuple[str, ...]
    app: bool
    #: reads the cases table's changelog: one booking's state, for audit (`detainer-tracker state`)
    states: bool = False


@dataclass(frozen=True)
class Plan:
    """The roles file resolved against the settings: roles, principals and the ACLs they mean."""

    roles: dict[str, Role]
    principals: dict[str, tuple[str, ...]]
    app_id: str
    prefix: str = ""

    def owns(self, grant: Grant) -> bool:
        """True when a binding is the plan's to judge: one of its principals, on a resource under its prefix.

        Several deployments (topic prefixes) can share a cluster; each roles file speaks only for its own.
        """
        return grant.principal in self.principal_names and grant.name.startswith(self.prefix)

    @property
    def grants(self) -> frozenset[Grant]:
        """Every ACL binding the plan asks for."""
        out: set[Grant] = set()
        for user, role_names in self.principals.items():
            principal = f"User:{user}"
            for role in (self.roles[r] for r in role_names):
                for topic in role.read:
                    out.add(Grant(principal, "TOPIC", topic, "LITERAL", "READ"))
                    out.add(Grant(principal, "TOPIC", topic, "LITERAL", "DESCRIBE"))
                for topic in role.write:
                    out.add(Grant(principal, "TOPIC", topic, "LITERAL", "WRITE"))
                    out.add(Grant(principal, "TOPIC", topic, "LITERAL", "DESCRIBE"))
                for prefix in role.groups:
                    out.add(Grant(principal, "GROUP", prefix, "PREFIXED", "READ"))
                    out.add(Grant(principal, "GROUP", prefix, "PREFIXED", "DESCRIBE"))
                if role.app:
                    out |= _app_grants(principal, self.app_id)
                if role.states:
                    out |= {Grant(principal, "TOPIC", changelog_of(self.app_id), "LITERAL", op)
                            for op in ("READ", "DESCRIBE")}
        return frozenset(out)

    @property
    def principal_names(self) -> tuple[str, ...]:
        """The principals the plan speaks for, as Kafka names them (User:name)."""
        return tuple(f"User:{u}" for u in self.principals)


def _app_grants(principal: str, app_id: str) -> set[Grant]:
    grants = {Grant(principal, "GROUP", app_id, "LITERAL", op) for op in ("READ", "DESCRIBE")}
    # Its changelog and assignor topics: created, read, written and inspected by the worker itself.
    grants |= {Grant(principal, "TOPIC", f"{app_id}-", "PREFIXED", op)
               for op in ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")}
    grants |= {Grant(principal, "TRANSACTIONAL_ID", app_id, "PREFIXED", op) for op in ("WRITE", "DESCRIBE")}
    return grants


def load(path: Path, topics: Topics, app_id: str) -> Plan:
    """Read and validate a roles file; an error names the file, the role and what is wrong."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(data.get("roles"), dict) or not isinstance(data.get("principals"), dict):
        raise ConfigError(f"{path}: needs a `roles` mapping and a `principals` mapping")
    ids = {t.spec.id: t.name for t in topics}
    roles = {name: _role(path, name, spec or {}, ids, topics.prefix) for name, spec in data["roles"].items()}
    principals: dict[str, tuple[str, ...]] = {}
    for user, names in data["principals"].items():
        names = [names] if isinstance(names, str) else list(names or [])
        unknown = [n for n in names if n not in roles]
        if unknown or not names:
            raise ConfigError(f"{path}: principal {user!r}: unknown role(s) {unknown or '(none given)'}; "
                              f"roles are {', '.join(roles)}")
        principals[str(user)] = tuple(names)
    return Plan(roles, principals, app_id, topics.prefix)


def _role(path: Path, name: str, spec: dict[str, Any], ids: dict[str, str], prefix: str) -> Role:
    extra = set(spec) - _ROLE_KEYS
    if extra:
        raise ConfigError(f"{path}: role {name!r}: unknown key(s) {sorted(extra)}; use {sorted(_ROLE_KEYS)}")

    def topic_names(key: str) -> tuple[str, ...]:
        wanted = list(spec.get(key) or [])
        unknown = [t for t in wanted if t not in ids]
        if unknown:
            raise ConfigError(f"{path}: role {name!r}: unknown topic id(s) {unknown} in {key}; "
                              f"topic ids are {', '.join(ids)}")
        return tuple(ids[t] for t in wanted)

    groups = tuple(prefix + str(g) for g in spec.get("groups") or [])
    return Role(name, str(spec.get("says", "")), topic_names("read"), topic_names("write"), groups,
                bool(spec.get("app", False)), bool(spec.get("states", False)))


# --- the broker side ------------------------------------------------------------------------------------------


def current(admin: Any) -> frozenset[Grant]:
    """Every ALLOW binding the broker holds (DENY bindings are not ours and are reported apart)."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    everything = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                           permission_type=ACLPermissionType.ANY,
                           resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    from kafka.errors import KafkaError

    try:
        acls, error = admin.describe_acls(everything)
    except KafkaError as exc:
        raise ConfigError(f"the broker refused to list ACLs ({type(exc).__name__}); ACLs are read and written "
                          "by a super user (locally: admin)") from exc
    if error is not None and getattr(error, "errno", 0):
        raise ConfigError(f"the broker refused to list ACLs: {error}")
    return frozenset(Grant(a.principal, a.resource_pattern.resource_type.name, a.resource_pattern.resource_name,
                           a.resource_pattern.pattern_type.name, a.operation.name)
                     for a in acls if a.permission_type == ACLPermissionType.ALLOW)


def _acl(grant: Grant, permission: str = "ALLOW") -> Any:
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    return ACL(principal=grant.principal, host="*", operation=ACLOperation[grant.operation],
               permission_type=ACLPermissionType[permission],
               resource_pattern=ResourcePattern(ResourceType[grant.resource_type], grant.name,
                                                ACLResourcePatternType[grant.pattern]))


@dataclass(frozen=True)
class Applied:
    """What `apply` did."""

    created: tuple[Grant, ...]
    removed: tuple[Grant, ...]
    kept: int


def apply(admin: Any, plan: Plan, prune: bool = False, settle: float = 30.0) -> Applied:
    """Create the plan's missing bindings; with `prune`, remove bindings of the plan's principals it no longer asks for.

    Idempotent: a second run creates and removes nothing. Returns once the broker enforces the change.
    """
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ResourcePatternFilter, ResourceType

    have, want = current(admin), plan.grants
    missing = sorted(want - have)
    if missing:
        result = admin.create_acls([_acl(g) for g in missing])  # refusals come back in "failed"
        failed = result.get("failed") or []
        if failed:
            raise ConfigError("the broker refused ACLs: " + "; ".join(f"{acl}: {err}" for acl, err in failed))
    stale = sorted(g for g in have - want if plan.owns(g)) if prune else []
    if stale:
        filters = [ACLFilter(principal=g.principal, host="*", operation=ACLOperation[g.operation],
                             permission_type=ACLPermissionType.ALLOW,
                             resource_pattern=ResourcePatternFilter(ResourceType[g.resource_type], g.name,
                                                                    _pattern(g.pattern)))
                   for g in stale]
        for _, _, error in admin.delete_acls(filters):
            if error is not None and getattr(error, "errno", 0):
                raise ConfigError(f"the broker refused to remove ACLs: {error}")
    _wait_in_effect(admin, set(missing), set(stale), settle)
    return Applied(tuple(missing), tuple(stale), len(want & have))


def _wait_in_effect(admin: Any, created: set[Grant], removed: set[Grant], timeout: float) -> None:
    """ACLs reach the brokers through the metadata log a moment after the controller accepts them: wait."""
    deadline = time.monotonic() + timeout
    while created or removed:
        now = current(admin)
        if created <= now and not removed & now:
            return
        if time.monotonic() > deadline:
            raise ConfigError(f"ACLs not in effect after {timeout:.0f} s: {len(created - now)} still missing, "
                              f"{len(removed & now)} still present")
        time.sleep(0.2)


def _pattern(name: str) -> Any:
    from kafka.admin import ACLResourcePatternType

    return ACLResourcePatternType[name]


def matrix(grants: Iterable[Grant], principals: Iterable[str], topics: Iterable[str]) -> list[tuple[str, str, str]]:
    """(principal, topic, 'read' / 'write' / 'read, write' / '-') for every pair, from the bindings."""
    grants = frozenset(grants)
    rows = []
    for principal in principals:
        for topic in topics:
            can = [op.lower() for op in ("READ", "WRITE") if allows(grants, principal, op, "TOPIC", topic)]
            rows.append((principal, topic, ", ".join(can) or "-"))
    return rows
