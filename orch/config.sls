{#- orch.config: apply pillar's PostgreSQL and Patroni settings to a running cluster.
    salt-run state.orchestrate orch.config pillar='{"cluster": "NAME"}' [test=True]
    Patroni's config file on each db host, one host at a time (a reload); then its dynamic
    configuration (timing, failover rules, PostgreSQL parameters), which Patroni applies
    on every member; then restarts where a parameter needs one: the replicas one at a
    time, each streaming again before the next, then a switchover with PgBouncer paused
    ("pause_pooler": false to skip the pause) and the old leader, which the demotion has
    restarted already. Nothing restarts when nothing needs it. #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- if plan.errors %}

{{ refused('pgsalt-config-refused', 'config', plan.errors) }}
{%- else %}
{%- set cluster_pillar = {'cluster': plan.cluster} %}

pgsalt-config-sync:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {{ cluster_pillar | json }}
    - failhard: True

pgsalt-config-patroni-files:
  salt.state:
    - tgt: {{ plan.db | join(',') }}
    - tgt_type: list
    - sls: patroni.service
    - batch: 1
    - pillar: {{ cluster_pillar | json }}
    - failhard: True
    - require:
      - salt: pgsalt-config-sync

pgsalt-config-dynamic:
  salt.state:
    - tgt: {{ plan.db[0] }}
    - sls: patroni.dynamic
    - pillar: {{ cluster_pillar | json }}
    - failhard: True
    - require:
      - salt: pgsalt-config-patroni-files

pgsalt-config-settle:
  pgsalt_cluster.settled:
    - name: {{ plan.cluster | json }}
    - db: {{ plan.db | json }}
    - onchanges:
      - salt: pgsalt-config-dynamic

pgsalt-config-rolling-restart:
  pgsalt_cluster.restarted:
    - name: {{ plan.cluster | json }}
    - db: {{ plan.db | json }}
    - balancers: {{ plan.balancer | json }}
    - pause_pooler: {{ pillar.get('pause_pooler', True) | json }}
    - failhard: True
    - require:
      - salt: pgsalt-config-dynamic
      - pgsalt_cluster: pgsalt-config-settle
{%- endif %}
