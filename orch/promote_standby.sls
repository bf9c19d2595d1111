{#- orch.promote_standby: a standby cluster (pillar standby:cluster) becomes a cluster of
    its own that accepts writes, for disaster recovery or a move.
    salt-run state.orchestrate orch.promote_standby pillar='{"cluster": "NAME"}'
    It removes standby_cluster from Patroni's dynamic configuration (in etcd), waits until
    the standby leader is a primary, then until every db member is ready again. The source
    cluster is not touched: stop writes to it first, or it goes on as a second primary of
    the same data. A re-run changes nothing.
    Afterwards, in pillar: remove standby from the cluster and give it the users, roles and
    databases of its source (same names and passwords: its data is a copy). Until then
    orch.deploy and highstates leave it promoted (Patroni reads bootstrap.dcs only when etcd
    holds no configuration for the scope and the data directory no patroni.dynamic.json)
    and create no objects; pgbackrest can be turned on once standby is gone. #}
{%- from 'orch/plan.jinja' import plan, refused with context %}
{%- set errors = plan.errors or ([] if plan.standby else ['pgsalt:clusters:' ~ plan.cluster ~ ':standby:cluster: not set; this cluster is not a standby, there is nothing to promote']) %}
{%- if errors %}

{{ refused('pgsalt-promote-standby-refused', 'promotion', errors) }}
{%- else %}

pgsalt-promote-standby-sync:
  salt.state:
    - tgt: {{ plan.members | join(',') }}
    - tgt_type: list
    - sls: pgsalt.sync
    - test: False
    - pillar: {cluster: {{ plan.cluster | json }}}
    - failhard: True

{#- Patroni promotes the standby leader on its next loop (loop_wait, 10 s by default);
    the replicas follow the new timeline. #}
pgsalt-promote-standby:
  pgsalt_cluster.promoted:
    - name: {{ plan.cluster | json }}
    - db: {{ plan.db | json }}
    - failhard: True
    - require:
      - salt: pgsalt-promote-standby-sync
{%- endif %}
