{#- orch.minor_upgrade: update the formula's packages to the candidates apt offers (minor
    versions and security fixes), one host at a time, each checked before the next.
    salt-run state.orchestrate orch.minor_upgrade pillar='{"cluster": "NAME"}' [test=True]
    Packages per role: db: PostgreSQL's, Patroni's (a venv Patroni is pinned: not touched),
    pgBackRest's with backups on; balancer: HAProxy, PgBouncer, keepalived with a vip;
    dcs: etcd; backup: pgBackRest (and the drill's PostgreSQL); with monitoring on, each
    member's exporters and the monitor's Prometheus and Alertmanager. Order: the hosts that are no
    db member, then the replicas, then a switchover away from the leader (PgBouncer paused;
    "pause_pooler": false skips every pause) and the old leader. etcd members restart one
    at a time by their package, each healthy again before the next (etcd keeps quorum).
    On a balancer its PgBouncer is paused while HAProxy's package updates, so that an
    HAProxy restart costs no transaction, and resumed once HAProxy routes writes to the
    leader; a PgBouncer update restarts PgBouncer and that balancer's clients reconnect.
    A db host's PostgreSQL restarts (through Patroni) when it runs an older binary than
    the installed one, and must stream again. test=True lists what would change; hosts
    with nothing pending are not touched (a re-run changes nothing). Major upgrades are a
    different procedure. #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- if plan.errors %}

{{ refused('pgsalt-minor-upgrade-refused', 'minor upgrade', plan.errors) }}
{%- else %}
{%- set cluster_pillar = {'cluster': plan.cluster} %}

pgsalt-minor-upgrade-sync:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {{ cluster_pillar | json }}
    - failhard: True

pgsalt-minor-upgrade:
  pgsalt_cluster.upgraded:
    - name: {{ plan.cluster | json }}
    - db: {{ plan.db | json }}
    - balancers: {{ plan.balancer | json }}
    - hosts: {{ plan.members | json }}
    - pause_pooler: {{ pillar.get('pause_pooler', True) | json }}
    - failhard: True
    - require:
      - salt: pgsalt-minor-upgrade-sync
{%- endif %}
